using System.CommandLine;
using System.Globalization;
using PcieEmu.Devices;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Models;
using PcieEmu.Harness;
using PcieEmu.Harness.Audio;
using PcieEmu.Harness.Qemu;

namespace PcieEmu.Cli.Commands;

/// <summary>
/// `pcieemu bench stream [--model FILE] [--seconds S]`: every stream of a card running at once in a real guest;
/// reports the server's CPU (this process hosts it), what the card moved and the device-side lateness of the
/// period interrupts (<see cref="StreamBench"/>). Default: the pro model at 192 kHz, S32_LE, 60 s.
/// </summary>
internal static class StreamBenchCommand
{
    public static Command Create()
    {
        var model = new Option<FileInfo?>("--model") { Description = "Card model file (default: the pro audio card)" };
        var seconds = new Option<double>("--seconds") { Description = "Measured window with every stream running", DefaultValueFactory = _ => 60 };
        var idle = new Option<double>("--idle-seconds") { Description = "Idle baseline window first", DefaultValueFactory = _ => 5 };
        var rate = new Option<int>("--rate") { Description = "Sample rate of every stream", DefaultValueFactory = _ => 192000 };
        var format = new Option<string>("--format") { Description = "S16_LE, S24_LE, S32_LE or FLOAT_LE", DefaultValueFactory = _ => "S32_LE" };
        var routes = new Option<string[]>("--route") { Description = "STREAM=ROUTE overrides (default: every playback stream to null, captures as the model says)" };
        var accel = new Option<AcceleratorChoice>("--accel") { Description = "Auto, Tcg or Kvm", DefaultValueFactory = _ => AcceleratorChoice.Auto };
        var timeout = new Option<int>("--timeout") { Description = "Seconds for the whole run", DefaultValueFactory = _ => 900 };
        var trace = new Option<DirectoryInfo?>("--trace") { Description = "Record the card into DIR/card0.petrace while measuring (the cost of recording)" };
        var command = new Command("stream", "Server CPU, throughput and period-interrupt lateness with every stream of a card running") { model, seconds, idle, rate, format, routes, accel, timeout, trace };
        command.SetAction(async (parse, ct) =>
        {
            using var loggers = CliLogging.Create(parse, Microsoft.Extensions.Logging.LogLevel.Warning);
            string modelPath = parse.GetValue(model)?.FullName ?? DataFiles.ProModelPath;
            if (GuestStart.LoadAudioModel("bench stream", modelPath) is not { } card)
            {
                return 2;
            }

            if (!SampleFormats.TryParseAlsaName(parse.GetValue(format) ?? "", out var sampleFormat))
            {
                Console.Error.WriteLine($"bench stream: unknown format '{parse.GetValue(format)}' (S16_LE, S24_LE, S32_LE, FLOAT_LE)");
                return 2;
            }

            double window = parse.GetValue(seconds), idleWindow = parse.GetValue(idle);
            if (!(window is > 0 and <= 3600) || !(idleWindow is >= 0 and <= 600))
            {
                Console.Error.WriteLine("bench stream: --seconds must be in (0, 3600] and --idle-seconds in [0, 600]");
                return 2;
            }

            var routeTable = card.Streams.Where(s => s.Direction == StreamDirection.Playback).ToDictionary(s => s.Name, _ => "null");
            try
            {
                foreach (var (k, v) in CardOptions.ParseRoutes(parse.GetValue(routes) ?? []))
                {
                    routeTable[k] = v;
                }
            }
            catch (CardModelException e)
            {
                Console.Error.WriteLine($"bench stream: {e.Message}");
                return 2;
            }

            var options = new StreamBenchOptions
            {
                Duration = TimeSpan.FromSeconds(window),
                IdleWindow = TimeSpan.FromSeconds(idleWindow),
                Rate = parse.GetValue(rate),
                Format = sampleFormat,
            };
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(parse.GetValue(timeout)));
            var sessionOptions = new GuestSessionOptions
            {
                ModelPaths = [modelPath],
                Accelerator = parse.GetValue(accel),
                Routes = routeTable,
                TraceDirectory = parse.GetValue(trace)?.FullName,
            };
            if (await GuestStart.StartAsync("bench stream", sessionOptions, loggers, deadline.Token) is not { } session)
            {
                return 1;
            }

            await using (session)
            {
                StreamBenchReport report;
                try
                {
                    report = await ProgressDisplay.RunAsync("bench stream", p => StreamBench.RunAsync(session, options, p, deadline.Token));
                }
                catch (Exception e) when (e is GuestSessionException or OperationCanceledException or InvalidOperationException)
                {
                    session.MarkFailed();
                    Console.Error.WriteLine($"bench stream: {(e is OperationCanceledException ? "timed out" : e.Message)}");
                    Console.Error.WriteLine(session.DescribeLogs());
                    return 1;
                }

                Print(report, card.Name);
                if (report.GuestExitCode != 0 || !report.AllRanThroughout)
                {
                    session.MarkFailed();
                    Console.Error.WriteLine($"bench stream: the guest's players exited {report.GuestExitCode} ({report.GuestOutput}); all streams ran throughout: {report.AllRanThroughout}");
                    Console.Error.WriteLine(session.DescribeLogs());
                    return 1;
                }

                return 0;
            }
        });
        return command;
    }

    private static void Print(StreamBenchReport r, string cardName)
    {
        var inv = CultureInfo.InvariantCulture;
        static string Us(long ns) => (ns / 1000.0).ToString("F0", CultureInfo.InvariantCulture) + " us";
        Console.WriteLine(string.Create(inv, $"{cardName}: {r.Streams.Count} streams at {r.Options.Rate} Hz {r.Options.Format.AlsaName()}, {r.Busy.Wall.TotalSeconds:F1} s window"));
        Console.WriteLine(string.Create(inv, $"{"stream",-8} {"dir",-8} {"ch",3} {"period",7} {"frames",12} {"periods",8} {"xruns",6} {"IOC late p50",13} {"p99",9} {"max",9}"));
        foreach (var s in r.Streams)
        {
            Console.WriteLine(string.Create(inv,
                $"{s.Name,-8} {(s.Capture ? "capture" : "playback"),-8} {s.Format.Channels,3} {s.PeriodFrames,7} {s.Frames,12:N0} {s.Periods,8:N0} {s.Xruns,6} {Us(s.Lateness.P50),13} {Us(s.Lateness.P99),9} {Us(s.Lateness.Max),9}"));
        }

        Console.WriteLine(string.Create(inv, $"period-interrupt lateness, device side, all streams: p50 {Us(r.Lateness.P50)}  p99 {Us(r.Lateness.P99)}  max {Us(r.Lateness.Max)}  ({r.Lateness.Count:N0} interrupts)"));
        Console.WriteLine(string.Create(inv, $"moved {r.SamplesPerSecond / 1e6:F2} M samples/s; DMA read {r.DmaReadBytes / r.Busy.Wall.TotalSeconds / 1e6:F1} MB/s, written {r.DmaWriteBytes / r.Busy.Wall.TotalSeconds / 1e6:F1} MB/s"));
        Console.WriteLine(string.Create(inv, $"server process CPU: {r.Busy.Percent:F1} % of one core streaming, {r.Idle.Percent:F1} % idle (guest booted, nothing playing, {r.Idle.Wall.TotalSeconds:F1} s)"));
        foreach (var (name, sec) in r.Busy.ThreadSeconds.OrderByDescending(kv => kv.Value).Take(5))
        {
            Console.WriteLine(string.Create(inv, $"  thread {name,-16} {100 * sec / r.Busy.Wall.TotalSeconds,6:F1} %"));
        }

        Console.WriteLine(string.Create(inv, $"violations {r.Violations}; guest players exited {r.GuestExitCode}"));
    }
}
