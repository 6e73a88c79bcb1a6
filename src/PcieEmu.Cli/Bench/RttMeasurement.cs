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

/// <summary>
/// One client session of `bench rtt`: connect, VERSION + DEVICE_GET_INFO + GET_REGION_INFO (QEMU's setup), untimed
/// warm-up reads, then timed 4-byte REGION_READs with one request in flight, like a vCPU doing a blocking MMIO read.
/// </summary>
internal static class RttMeasurement
{
    /// <summary>Thrown when the target cannot serve the requested read (a usage error, not an I/O failure).</summary>
    public sealed class UnusableTargetException(string message) : Exception(message);

    /// <summary>
    /// Connects, sets up and times <paramref name="count"/> reads. <paramref name="aroundTimed"/>, if given, is called
    /// just before and just after the timed reads with the session still open (for server-side accounting).
    /// </summary>
    public static (RttTarget Target, RttResult Result) Run(string socketPath, int region, ulong offset, int warmup, int count,
        TimeSpan connectPatience = default, Action<bool>? aroundTimed = null)
    {
        using var client = Connect(socketPath, connectPatience);
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

        uint value = client.ReadUInt32(region, offset);
        var samples = new long[count];
        var result = Time(client, region, offset, warmup, samples, aroundTimed);
        return (new RttTarget(info, regionSize, value), result);
    }

    private static RttResult Time(VfioUserClient client, int region, ulong offset, int warmup, long[] samples, Action<bool>? aroundTimed)
    {
        Span<byte> value = stackalloc byte[4];
        for (int i = 0; i < warmup; i++)
        {
            client.RegionRead(region, offset, value);
        }

        aroundTimed?.Invoke(true);
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < samples.Length; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            client.RegionRead(region, offset, value);
            samples[i] = Stopwatch.GetTimestamp() - t0;
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        aroundTimed?.Invoke(false);
        return RttResult.From(samples, seconds);
    }

    /// <summary>Connects; a server that is still starting (no socket yet, or not listening) is retried until the patience runs out.</summary>
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
