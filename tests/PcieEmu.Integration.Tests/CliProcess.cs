namespace PcieEmu.Integration.Tests;

/// <summary>Runs the pcieemu built beside the tests as a child process, from the tests' directory (CliProcesses does the work).</summary>
internal static class CliProcess
{
    public static Task<(int Exit, string Stdout, string Stderr)> RunAsync(TimeSpan timeout, params string[] args) =>
        CliProcesses.RunAsync(timeout, CliProcesses.DefaultDll, Environment.CurrentDirectory, args);
}
