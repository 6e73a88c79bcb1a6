using System.Diagnostics;
using System.Globalization;
using PcieEmu.Harness.Processes;
using PcieEmu.Interop;

namespace PcieEmu.Integration.Tests;

/// <summary>
/// pcieemu as a child process with a chosen binary and working directory and without $PCIEEMU_REPO (CliProcess
/// runs the copy beside the tests from the test's directory): one-shot runs, and a long-running `serve` that the
/// test waits on by polling for its socket and stops with SIGTERM.
/// </summary>
internal static class CliProcesses
{
    public static string DefaultDll => Path.Combine(AppContext.BaseDirectory, "pcieemu.dll");

    public static ProcessStartInfo StartInfo(string dll, string workingDirectory, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        start.Environment.Remove("PCIEEMU_REPO");
        start.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        return start;
    }

    public static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(TimeSpan timeout, string dll, string workingDirectory, params string[] args)
    {
        using var process = ChildProcessLauncher.Start(StartInfo(dll, workingDirectory, args));
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            ChildProcessLauncher.Kill(process);
            throw new TimeoutException($"pcieemu {string.Join(' ', args)} ran over {timeout}\nstdout:\n{await stdout}\nstderr:\n{await stderr}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>A `pcieemu serve` child: started, waited on until its socket exists, stopped with SIGTERM.</summary>
internal sealed class ServeProcess : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;

    private ServeProcess(Process process, string socket)
    {
        _process = process;
        Socket = socket;
        _stdout = process.StandardOutput.ReadToEndAsync();
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public string Socket { get; }

    public bool HasExited => _process.HasExited;

    public static ServeProcess Start(string socket, string? dll = null, string? workingDirectory = null, params string[] extra) =>
        new(ChildProcessLauncher.Start(CliProcesses.StartInfo(dll ?? CliProcesses.DefaultDll, workingDirectory ?? Path.GetTempPath(), ["serve", "--socket", socket, .. extra])), socket);

    /// <summary>Polls (generous deadline, no fixed sleep) until the server's socket exists; fails early if the server exits.</summary>
    public async Task WaitForSocketAsync(TimeSpan? deadline = null)
    {
        using var cts = new CancellationTokenSource(deadline ?? TimeSpan.FromMinutes(2));
        while (FileStatus.OfLink(Socket) is not { Kind: FileKind.Socket })
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"serve exited ({_process.ExitCode}) before listening\n{await OutputAsync()}");
            }

            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"serve did not create {Socket} in time");
            }

            await Task.Delay(20, CancellationToken.None);
        }
    }

    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async Task<string> OutputAsync() => $"stdout:\n{await _stdout}\nstderr:\n{await _stderr}";

    public Task<string> StderrAsync() => _stderr;

    public void Dispose()
    {
        ChildProcessLauncher.Kill(_process);
        _process.Dispose();
    }
}
