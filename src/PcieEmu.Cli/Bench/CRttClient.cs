using System.Diagnostics;
using System.Globalization;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.Cli.Bench;

/// <summary>
/// The C benchmark client (rtt_client.c) as a child process pinned like the .NET one: it keeps one session with a
/// server and times series on command, so no .NET runtime runs on the client side of the round trip (as in the notes'
/// §14 baseline). Line protocol on its stdin/stdout: "ready VALUE SIZE", "warm N" → "warm", "time N" → "result …".
/// </summary>
internal sealed class CRttClient : IRttClient
{
    private readonly Process _process;

    private CRttClient(Process process, RttTarget target)
    {
        _process = process;
        Target = target;
    }

    public RttTarget Target { get; }

    /// <summary>Starts the client against <paramref name="socket"/>; a server still starting is retried for <paramref name="patience"/>.</summary>
    public static CRttClient Open(string binary, string socket, int region, ulong offset, int? cpu, TimeSpan patience)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(patience.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var start = new ProcessStartInfo(binary)
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            start.ArgumentList.Add(socket);
            start.ArgumentList.Add(region.ToString(CultureInfo.InvariantCulture));
            start.ArgumentList.Add($"0x{offset:x}");
            var process = BenchChild.StartPinned(start, cpu);
            var errors = process.StandardError.ReadToEndAsync();
            string? line = process.StandardOutput.ReadLine();
            var f = line?.Split(' ');
            if (f is ["ready", var value, var size])
            {
                var target = new RttTarget(default, ulong.Parse(size, CultureInfo.InvariantCulture), uint.Parse(value, CultureInfo.InvariantCulture));
                return new CRttClient(process, target);
            }

            process.WaitForExit();
            string why = errors.Result.Trim();
            process.Dispose();
            if (!why.Contains("cannot connect", StringComparison.Ordinal) || Stopwatch.GetTimestamp() >= deadline)
            {
                throw new IOException($"rtt_client: {(why.Length > 0 ? why : "no ready line")}");
            }

            Thread.Sleep(50);
        }
    }

    public RttResult Time(int warmup, int count, Action<bool>? aroundTimed = null)
    {
        if (warmup > 0)
        {
            Command($"warm {warmup}", "warm");
        }

        aroundTimed?.Invoke(true);
        string result = Command($"time {count}", "result");
        aroundTimed?.Invoke(false);
        var f = result.Split(' ');
        double D(int i) => double.Parse(f[i], CultureInfo.InvariantCulture);
        return new RttResult(count, D(1), D(2), D(3), D(4), D(5));
    }

    private string Command(string command, string expect)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
        string? line = _process.StandardOutput.ReadLine();
        return line is not null && line.StartsWith(expect, StringComparison.Ordinal)
            ? line
            : throw new IOException($"rtt_client answered \"{line ?? "(nothing: it exited)"}\" to \"{command}\"");
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000))
            {
                _process.Kill();
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
        }

        _process.Dispose();
    }
}
