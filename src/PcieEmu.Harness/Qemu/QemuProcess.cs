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

    private QemuProcess(Process process) => _process = process;

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
        var p = ChildProcessLauncher.Start(psi);

        // Never disposed: the output callbacks and the exit line may come after the session let go of the process.
        var writer = new StreamWriter(new FileStream(log, FileMode.Create, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var sync = new object();
        void Append(string? line)
        {
            if (line is not null)
            {
                lock (sync)
                {
                    writer.WriteLine(line);
                }
            }
        }

        p.OutputDataReceived += (_, e) => Append(e.Data);
        p.ErrorDataReceived += (_, e) => Append(e.Data);
        p.Exited += (_, _) =>
        {
            lock (sync)
            {
                writer.WriteLine($"[pcieemu] QEMU exited with code {SafeExitCode(p)}");
            }
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return new QemuProcess(p);
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

    public void Dispose() => _process.Dispose();
}
