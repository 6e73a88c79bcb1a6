using System.Diagnostics;
using PcieEmu.Harness.Processes;

namespace PcieEmu.Integration.Tests;

/// <summary>Runs pcieemu as a user does: a child process, its exit code and its output; killed if it overruns.</summary>
internal static class CliProcess
{
    public static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pcieemu.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = ChildProcessLauncher.Start(start);
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
