using System.Diagnostics;
using PcieEmu.Harness.Processes;

namespace PcieEmu.Harness.Qemu;

/// <summary>
/// The QEMU child of a guest session: started through <see cref="ChildProcessLauncher"/>, its stdout and stderr
/// (and finally its exit code) appended to a log file unless the terminal is its console, and waited for or killed
/// by the session's power-off sequence.
/// </summary>
internal sealed class QemuProcess : IDisposable
{
    private readonly Process _process;
    private readonly QemuLogFile? _log;

    private QemuProcess(Process process, QemuLogFile? log = null)
    {
        _process = process;
        _log = log;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Valid only once <see cref="HasExited"/>, and only before <see cref="Dispose"/>.</summary>
    public int ExitCode => _process.ExitCode;

    public static QemuProcess Start(string qemu, IReadOnlyList<string> args, string log, ConsoleMode console)
    {
        var psi = new ProcessStartInfo(qemu) { UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (console == ConsoleMode.Terminal)
        {
            return new QemuProcess(ChildProcessLauncher.Start(psi)); // the terminal is the console; stderr stays visible
        }

        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = true;

        // The log first: if it cannot be opened, no QEMU is left running without anyone to stop it.
        var logFile = new QemuLogFile(log);
        Process p;
        try
        {
            p = ChildProcessLauncher.Start(psi);
        }
        catch
        {
            logFile.Dispose();
            throw;
        }

        p.OutputDataReceived += (_, e) => logFile.Append(e.Data);
        p.ErrorDataReceived += (_, e) => logFile.Append(e.Data);
        p.Exited += (_, _) => logFile.Append($"[pcieemu] QEMU exited with code {SafeExitCode(p)}");
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return new QemuProcess(p, logFile);
    }

    private static string SafeExitCode(Process p)
    {
        try
        {
            return p.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (InvalidOperationException)
        {
            return "?";
        }
    }

    public Task WaitForExitAsync(CancellationToken cancellationToken = default) => _process.WaitForExitAsync(cancellationToken);

    /// <summary>Waits at most <paramref name="timeout"/>; true when QEMU exited.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Kills QEMU and its descendants.</summary>
    public void Kill() => ChildProcessLauncher.Kill(_process);

    /// <summary>Lets the output still in flight reach the log (briefly), closes the log, releases the process handle.</summary>
    public void Dispose()
    {
        if (_log is not null && _process.HasExited)
        {
            _process.WaitForExit(TimeSpan.FromSeconds(2)); // the readers' last lines; bounded, a descendant may hold the pipe
        }

        _log?.Dispose();
        _process.Dispose();
    }

    /// <summary>QEMU's log: lines from the output callbacks, which may still arrive after Dispose (then dropped).</summary>
    private sealed class QemuLogFile(string path) : IDisposable
    {
        private readonly object _sync = new();
        private readonly StreamWriter _writer = new(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        private bool _closed;

        public void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_sync)
            {
                if (!_closed)
                {
                    _writer.WriteLine(line);
                }
            }
        }

        public void Dispose()
        {
            lock (_sync)
            {
                _closed = true;
                _writer.Dispose();
            }
        }
    }
}
