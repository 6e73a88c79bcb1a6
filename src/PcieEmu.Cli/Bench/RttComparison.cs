using System.Globalization;
using PcieEmu.Interop;

namespace PcieEmu.Cli.Bench;

/// <summary>Settings of one `bench rtt --compare`.</summary>
internal sealed record RttComparisonOptions(
    int Pairs, int Count, int Warmup, int Region, ulong Offset, int? ClientCpu, int? ServerCpu, string? Model, string? Responder, string? Compiler,
    IReadOnlyList<KeyValuePair<string, string>> ServerEnvironment, string? ServerPcieemu, IReadOnlyList<string> ServerArguments, bool CClient);

/// <summary>
/// `bench rtt --compare`: our server (A, a child `pcieemu serve`) against the C responder (B, one recv + one send per
/// request) in one command. Both start pinned as asked; the client opens one session with each (as QEMU keeps one
/// for a guest's life) and primes it with one uncounted series (the server's JIT reaches its steady tier there, and
/// the background tier-up of the session's setup code is over). Then timed series on A and B alternate, A B A B …,
/// so a machine whose speed drifts moves both. Ratios are taken pair by pair and summarised by median and range.
/// </summary>
internal static class RttComparison
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(RttComparisonOptions o, TextWriter output)
    {
        string responder = o.Responder ?? ResponderBuild.Ensure(ResponderBuild.Responder, o.Compiler);
        string? cClient = o.CClient ? ResponderBuild.Ensure(ResponderBuild.Client, o.Compiler) : null;
        var dir = Directory.CreateTempSubdirectory("pcieemu-rtt-");
        try
        {
            if (o.ClientCpu is { } clientCpu)
            {
                int r = CpuAffinity.PinCurrentProcess([clientCpu]);
                if (r != 0)
                {
                    throw new IOException($"cannot pin the client to CPU {clientCpu}: {Errno.Name(-r)}");
                }
            }

            string serverSocket = Path.Combine(dir.FullName, "pcieemu.sock");
            string responderSocket = Path.Combine(dir.FullName, "responder.sock");
            var (self, prefix) = o.ServerPcieemu switch
            {
                null => BenchChild.Self(),
                var dll when dll.EndsWith(".dll", StringComparison.Ordinal) => ("dotnet", [dll]),
                var exe => (exe, Array.Empty<string>()),
            };
            var serveArgs = new List<string>(prefix) { "serve", "--socket", serverSocket, "--persist", "--log-level", "Warning" };
            if (o.Model is not null)
            {
                serveArgs.AddRange(["--model", o.Model]);
            }

            serveArgs.AddRange(o.ServerArguments);

            using var server = BenchChild.Start("pcieemu serve", self, serveArgs, o.ServerCpu, o.ServerEnvironment);
            var patience = TimeSpan.FromSeconds(60);
            using var a = Open(server, serverSocket, o, cClient, patience);
            var target = a.Target;
            var primeA = Time(server, a, o).Result;

            using var floor = BenchChild.Start("rtt_responder", responder,
                [responderSocket, $"0x{target.RegionSize:x}", $"0x{target.Value:x}"], o.ServerCpu);
            using var b = Open(floor, responderSocket, o, cClient, patience);
            if (b.Target.Value != target.Value)
            {
                throw new IOException($"the responder returned 0x{b.Target.Value:x}, the server 0x{target.Value:x}");
            }

            var primeB = Time(floor, b, o).Result;
            string env = string.Concat(o.ServerEnvironment.Select(kv => $"{kv.Key}={kv.Value} "));
            output.WriteLine($"A = {env}{o.ServerPcieemu ?? "pcieemu"} serve{(o.Model is null ? "" : $" --model {o.Model}")}{string.Concat(o.ServerArguments.Select(a => " " + a))} (pid {server.Id}, CPUs {server.AllowedCpus()})");
            output.WriteLine($"B = {Path.GetFileName(responder)} (pid {floor.Id}, CPUs {floor.AllowedCpus()}): recv + send per request, no library");
            output.WriteLine(string.Create(Inv,
                $"client: {(cClient is null ? "this process (.NET)" : Path.GetFileName(cClient))} on CPUs {string.Join(",", CpuAffinity.OfCurrentThread())}; region {o.Region} offset 0x{o.Offset:x} (value 0x{target.Value:x8}); one session with each; {o.Pairs} pairs of {o.Count} timed round trips after {o.Warmup} warm-up each"));
            output.WriteLine(string.Create(Inv, $"priming series, not counted: A mean {primeA.Mean:F2} us p99 {primeA.P99:F2} us; B mean {primeB.Mean:F2} us p99 {primeB.P99:F2} us"));
            output.WriteLine("server session thread per round trip: cpu = CPU time, wait = runnable but not running, runs = times scheduled in;");
            output.WriteLine("others ms = CPU of the server's other threads during the timed run (they compete with the session thread)");
            output.WriteLine("pair  server    mean us    p50 us    p99 us     max us   round trips/s   cpu us  wait us  runs  others ms");

            var ratios = new List<(double Mean, double P50, double P99, double Cpu)>();
            for (int pair = 1; pair <= o.Pairs; pair++)
            {
                var (ra, sa) = Time(server, a, o);
                Print(output, pair, "A", ra, sa);
                var (rb, sb) = Time(floor, b, o);
                Print(output, pair, "B", rb, sb);
                ratios.Add((ra.Mean / rb.Mean, ra.P50 / rb.P50, ra.P99 / rb.P99, (double)sa.Session.CpuNs / sb.Session.CpuNs));
            }

            output.WriteLine(string.Create(Inv,
                $"A/B, median of {ratios.Count} pairs [min..max]:  mean {Summary(ratios.Select(r => r.Mean))}   p50 {Summary(ratios.Select(r => r.P50))}   p99 {Summary(ratios.Select(r => r.P99))}   session thread cpu {Summary(ratios.Select(r => r.Cpu))}"));
            return 0;
        }
        finally
        {
            try
            {
                dir.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static IRttClient Open(BenchChild child, string socket, RttComparisonOptions o, string? cClient, TimeSpan patience) =>
        Blame<IRttClient>(child, () => cClient is null
            ? RttSession.Open(socket, o.Region, o.Offset, patience, readValue: true)
            : CRttClient.Open(cClient, socket, o.Region, o.Offset, o.ClientCpu, patience));

    private static (RttResult Result, ServerActivity Server) Time(BenchChild child, IRttClient session, RttComparisonOptions o) =>
        Blame(child, () =>
        {
            Dictionary<int, (string, SchedStat)> before = [], after = [];
            var result = session.Time(o.Warmup, o.Count, start => _ = start ? before = child.ReadSchedStat() : after = child.ReadSchedStat());
            return (result, ServerActivity.Between(before, after));
        });

    /// <summary>Runs <paramref name="step"/>; an I/O failure is reported with the server's state and output.</summary>
    private static T Blame<T>(BenchChild child, Func<T> step)
    {
        try
        {
            return step();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException)
        {
            string state = child.HasExited ? "exited" : "running";
            throw new IOException($"{child.Name} ({state}): {e.Message}\n--- its output ---\n{child.Output}", e);
        }
    }

    private static void Print(TextWriter output, int pair, string name, RttResult r, ServerActivity a)
    {
        output.WriteLine(string.Create(Inv,
            $"{pair,4}  {name,-6} {r.Mean,10:F2} {r.P50,9:F2} {r.P99,9:F2} {r.Max,10:F1} {r.PerSecond,15:F0} {a.Session.CpuNs / 1e3 / r.Count,8:F2} {a.Session.WaitNs / 1e3 / r.Count,8:F2} {(double)a.Session.Slices / r.Count,5:F2} {a.Others.CpuNs / 1e6,10:F2}"));
        if (a.OtherThreads.Count > 0)
        {
            output.WriteLine($"            others: {string.Join(", ", a.OtherThreads.Select(t => string.Create(Inv, $"{t.Name} {t.Ms:F1} ms")))}");
        }
    }

    private static string Summary(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        double median = v.Length % 2 == 1 ? v[v.Length / 2] : (v[(v.Length / 2) - 1] + v[v.Length / 2]) / 2;
        return string.Create(Inv, $"{median:F3} [{v[0]:F3}..{v[^1]:F3}]");
    }
}
