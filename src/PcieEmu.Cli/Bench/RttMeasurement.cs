using System.Diagnostics;
using System.Net.Sockets;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.Cli.Bench;

/// <summary>What one timed series of round trips gave (microseconds).</summary>
internal sealed record RttResult(int Count, double Mean, double P50, double P99, double Max, double PerSecond)
{
    public static RttResult From(long[] ticks, double seconds)
    {
        Array.Sort(ticks);
        double Us(long t) => t * 1e6 / Stopwatch.Frequency;
        double sum = 0;
        foreach (long t in ticks)
        {
            sum += Us(t);
        }

        int n = ticks.Length;
        return new RttResult(n, sum / n, Us(ticks[n / 2]), Us(ticks[Math.Min(n - 1, (int)(n * 0.99))]), Us(ticks[^1]), n / seconds);
    }
}

/// <summary>The device a benchmark client found behind a socket during its setup.</summary>
internal sealed record RttTarget(DeviceInfo Device, ulong RegionSize, uint Value);

/// <summary>One open benchmark session with a server: timed series of 4-byte REGION_READs on it.</summary>
internal interface IRttClient : IDisposable
{
    RttTarget Target { get; }

    /// <summary>
    /// <paramref name="warmup"/> untimed reads, then <paramref name="count"/> timed ones. <paramref name="aroundTimed"/>,
    /// if given, is called just before (true) and just after (false) the timed reads (for server-side accounting).
    /// </summary>
    RttResult Time(int warmup, int count, Action<bool>? aroundTimed = null);
}

/// <summary>
/// One client session of `bench rtt`: connect, VERSION + DEVICE_GET_INFO + GET_REGION_INFO (QEMU's setup), then
/// series of untimed warm-up reads followed by timed 4-byte REGION_READs with one request in flight, like a vCPU
/// doing a blocking MMIO read. A session can time several series, as a guest's one long session with QEMU would
/// see them; a new session per series would make the server run its per-session setup code again each time.
/// </summary>
internal sealed class RttSession : IRttClient
{
    private readonly VfioUserClient _client;
    private readonly int _region;
    private readonly ulong _offset;

    private RttSession(VfioUserClient client, int region, ulong offset, RttTarget target)
    {
        _client = client;
        _region = region;
        _offset = offset;
        Target = target;
    }

    public RttTarget Target { get; }

    /// <summary>
    /// Connects (retrying while <paramref name="connectPatience"/> lasts: a server may still be starting) and sets up.
    /// With <paramref name="readValue"/> one untimed read learns the value at the offset (the comparison hands it to
    /// the responder); without, the session sends exactly what the user asked for and nothing more.
    /// </summary>
    public static RttSession Open(string socketPath, int region, ulong offset, TimeSpan connectPatience = default, bool readValue = false)
    {
        var client = Connect(socketPath, connectPatience);
        try
        {
            client.Negotiate();
            var info = client.GetDeviceInfo();
            ulong regionSize;
            using (var details = client.GetRegionInfo(region))
            {
                if (details.Info.Size < offset + 4 || !details.Readable)
                {
                    throw new UnusableTargetException(
                        $"region {region} is {details.Info.Size} bytes (flags 0x{details.Info.Flags:x}); cannot read 4 bytes at 0x{offset:x}");
                }

                regionSize = details.Info.Size;
            }

            uint value = readValue ? client.ReadUInt32(region, offset) : 0;
            return new RttSession(client, region, offset, new RttTarget(info, regionSize, value));
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="warmup"/> untimed reads, then <paramref name="count"/> timed ones. <paramref name="aroundTimed"/>,
    /// if given, is called just before (true) and just after (false) the timed reads (for server-side accounting).
    /// </summary>
    public RttResult Time(int warmup, int count, Action<bool>? aroundTimed = null)
    {
        var samples = new long[count];
        Span<byte> value = stackalloc byte[4];
        for (int i = 0; i < warmup; i++)
        {
            _client.RegionRead(_region, _offset, value);
        }

        aroundTimed?.Invoke(true);
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < samples.Length; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            _client.RegionRead(_region, _offset, value);
            samples[i] = Stopwatch.GetTimestamp() - t0;
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        aroundTimed?.Invoke(false);
        return RttResult.From(samples, seconds);
    }

    public void Dispose() => _client.Dispose();

    private static VfioUserClient Connect(string socketPath, TimeSpan patience)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(patience.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            try
            {
                return VfioUserClient.Connect(socketPath);
            }
            catch (SocketException) when (Stopwatch.GetTimestamp() < deadline)
            {
                Thread.Sleep(50);
            }
        }
    }
}

/// <summary>Thrown when the target cannot serve the requested read (a usage error, not an I/O failure).</summary>
internal sealed class UnusableTargetException(string message) : Exception(message);
