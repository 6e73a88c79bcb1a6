using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using PcieEmu.VfioUser.Client;

namespace PcieEmu.Cli.Commands;

/// <summary>
/// `pcieemu bench rtt --socket PATH [--count N]`: a vfio-user client that times 4-byte REGION_READ round
/// trips (one request in flight, like a vCPU doing a blocking MMIO read) against any vfio-user server.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Measurements");
        bench.Subcommands.Add(Rtt());
        bench.Subcommands.Add(StreamBenchCommand.Create());
        return bench;
    }

    private static Command Rtt()
    {
        var socket = new Option<string>("--socket") { Description = "vfio-user server socket", Required = true };
        var count = new Option<int>("--count") { Description = "Timed round trips", DefaultValueFactory = _ => 100_000 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed round trips first", DefaultValueFactory = _ => 2_000 };
        var region = new Option<int>("--region") { Description = "Region index to read (0 = BAR0, 7 = config space)", DefaultValueFactory = _ => 0 };
        var offset = new Option<ulong>("--offset") { Description = "Offset in the region", DefaultValueFactory = _ => 0 };
        var command = new Command("rtt", "Time 4-byte REGION_READ round trips against a vfio-user server") { socket, count, warmup, region, offset };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(count);
            int r = parse.GetValue(region);
            ulong off = parse.GetValue(offset);
            if (n < 1)
            {
                Console.Error.WriteLine("bench rtt: --count must be at least 1");
                return 2;
            }

            try
            {
                using var client = VfioUserClient.Connect(parse.GetValue(socket)!);
                client.Negotiate();
                var info = client.GetDeviceInfo();
                using (var details = client.GetRegionInfo(r))
                {
                    if (details.Info.Size < off + 4 || !details.Readable)
                    {
                        Console.Error.WriteLine($"bench rtt: region {r} is {details.Info.Size} bytes (flags 0x{details.Info.Flags:x}); cannot read 4 bytes at 0x{off:x}");
                        return 2;
                    }
                }

                Span<byte> value = stackalloc byte[4];
                for (int i = 0; i < parse.GetValue(warmup); i++)
                {
                    client.RegionRead(r, off, value);
                }

                var samples = new long[n];
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < n; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    client.RegionRead(r, off, value);
                    samples[i] = Stopwatch.GetTimestamp() - t0;
                }

                double total = Stopwatch.GetElapsedTime(start).TotalSeconds;
                Array.Sort(samples);
                double Us(long ticks) => ticks * 1e6 / Stopwatch.Frequency;
                double mean = samples.Average(t => Us(t));
                var inv = CultureInfo.InvariantCulture;
                Console.WriteLine(string.Create(inv, $"server: {info.NumRegions} regions, {info.NumIrqs} IRQ types; region {r} offset 0x{off:x}; {n} timed round trips after {parse.GetValue(warmup)} warm-up"));
                Console.WriteLine(string.Create(inv, $"mean {mean:F2} us   p50 {Us(samples[n / 2]):F2} us   p99 {Us(samples[Math.Min(n - 1, (int)(n * 0.99))]):F2} us   max {Us(samples[^1]):F2} us"));
                Console.WriteLine(string.Create(inv, $"{n / total:F0} round trips/s"));
                return 0;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException)
            {
                Console.Error.WriteLine($"bench rtt: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
