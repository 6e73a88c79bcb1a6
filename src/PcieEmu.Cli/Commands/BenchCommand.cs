using System.CommandLine;
using System.Globalization;
using PcieEmu.Cli.Bench;
using PcieEmu.Interop;

namespace PcieEmu.Cli.Commands;

/// <summary>
/// `pcieemu bench rtt --socket PATH [--count N]`: a vfio-user client that times 4-byte REGION_READ round
/// trips (one request in flight, like a vCPU doing a blocking MMIO read) against any vfio-user server.
/// `pcieemu bench rtt --compare` times our server against a bare C responder in one command (<see cref="RttComparison"/>).
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
        var socket = new Option<string?>("--socket") { Description = "vfio-user server socket to time (plain mode)" };
        var compare = new Option<bool>("--compare") { Description = "Start `pcieemu serve` and the C responder (the floor: recv + send per request) and time them in turn" };
        var pairs = new Option<int>("--runs") { Description = "With --compare: A,B pairs of timed runs", DefaultValueFactory = _ => 4 };
        var count = new Option<int>("--count") { Description = "Timed round trips per run", DefaultValueFactory = _ => 100_000 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed round trips first", DefaultValueFactory = _ => 2_000 };
        var region = new Option<int>("--region") { Description = "Region index to read (0 = BAR0, 7 = config space)", DefaultValueFactory = _ => 0 };
        var offset = new Option<ulong>("--offset") { Description = "Offset in the region", DefaultValueFactory = _ => 0 };
        var cpu = new Option<int?>("--cpu") { Description = "Pin this client to one CPU (with --compare: default 0)" };
        var serverCpu = new Option<int?>("--server-cpu") { Description = "With --compare: the CPU of both servers (default: the client's; another CPU measures cross-CPU)" };
        var noPin = new Option<bool>("--no-pin") { Description = "With --compare: pin nothing" };
        var model = new Option<string?>("--model") { Description = "With --compare: card model for `pcieemu serve`" };
        var responder = new Option<string?>("--responder") { Description = "With --compare: a built rtt_responder to use instead of compiling the embedded one" };
        var cc = new Option<string?>("--cc") { Description = "With --compare: C compiler for the responder (default gcc-12, gcc or cc)" };
        var serverPcieemu = new Option<string?>("--server-pcieemu") { Description = "With --compare: another pcieemu build (executable or pcieemu.dll) to run as the server, e.g. to compare builds" };
        var client = new Option<string>("--client") { Description = "With --compare: the benchmark client, dotnet (this process) or c (the embedded rtt_client.c, no runtime between the servers)", DefaultValueFactory = _ => "dotnet" };
        client.AcceptOnlyFromAmong("dotnet", "c");
        var serverArgs = new Option<string[]>("--server-arg") { Description = "With --compare: one more argument for `pcieemu serve` (repeatable), e.g. --server-arg=--no-io-uring" };
        var serverEnv = new Option<string[]>("--server-env") { Description = "With --compare: NAME=VALUE for the server's environment (repeatable), e.g. DOTNET_TieredCompilation=0" };
        var command = new Command("rtt", "Time 4-byte REGION_READ round trips against a vfio-user server, or compare ours with a bare C responder")
        {
            socket, compare, pairs, count, warmup, region, offset, cpu, serverCpu, noPin, model, responder, cc, serverEnv, serverPcieemu, serverArgs, client,
        };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(count);
            int r = parse.GetValue(region);
            ulong off = parse.GetValue(offset);
            string? path = parse.GetValue(socket);
            bool comparing = parse.GetValue(compare);
            if (n < 1 || parse.GetValue(warmup) < 0 || parse.GetValue(pairs) < 1)
            {
                Console.Error.WriteLine("bench rtt: --count and --runs must be at least 1, --warmup at least 0");
                return 2;
            }

            if (comparing == (path is not null))
            {
                Console.Error.WriteLine("bench rtt: give either --socket PATH or --compare");
                return 2;
            }

            try
            {
                if (comparing)
                {
                    var environment = new List<KeyValuePair<string, string>>();
                    foreach (string pair in parse.GetValue(serverEnv) ?? [])
                    {
                        int eq = pair.IndexOf('=', StringComparison.Ordinal);
                        if (eq < 1)
                        {
                            Console.Error.WriteLine($"bench rtt: --server-env {pair}: expected NAME=VALUE");
                            return 2;
                        }

                        environment.Add(new(pair[..eq], pair[(eq + 1)..]));
                    }

                    bool pin = !parse.GetValue(noPin);
                    int? clientCpu = pin ? parse.GetValue(cpu) ?? 0 : null;
                    int? serversCpu = pin ? parse.GetValue(serverCpu) ?? clientCpu : null;
                    var options = new RttComparisonOptions(parse.GetValue(pairs), n, parse.GetValue(warmup), r, off, clientCpu, serversCpu,
                        parse.GetValue(model), parse.GetValue(responder), parse.GetValue(cc), environment,
                        parse.GetValue(serverPcieemu), parse.GetValue(serverArgs) ?? [], parse.GetValue(client) == "c");
                    return RttComparison.Run(options, Console.Out);
                }

                if (parse.GetValue(cpu) is { } c && CpuAffinity.PinCurrentProcess([c]) is var pinned && pinned != 0)
                {
                    Console.Error.WriteLine($"bench rtt: cannot pin to CPU {c}: {Errno.Name(-pinned)}");
                    return 2;
                }

                using var session = RttSession.Open(path!, r, off);
                var target = session.Target;
                var result = session.Time(parse.GetValue(warmup), n);
                var inv = CultureInfo.InvariantCulture;
                Console.WriteLine(string.Create(inv, $"server: {target.Device.NumRegions} regions, {target.Device.NumIrqs} IRQ types; region {r} offset 0x{off:x}; {n} timed round trips after {parse.GetValue(warmup)} warm-up"));
                Console.WriteLine(string.Create(inv, $"mean {result.Mean:F2} us   p50 {result.P50:F2} us   p99 {result.P99:F2} us   max {result.Max:F2} us"));
                Console.WriteLine(string.Create(inv, $"{result.PerSecond:F0} round trips/s"));
                return 0;
            }
            catch (UnusableTargetException e)
            {
                Console.Error.WriteLine($"bench rtt: {e.Message}");
                return 2;
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
