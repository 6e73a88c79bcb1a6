using System.CommandLine;
using System.Globalization;
using PcieEmu.Devices;
using PcieEmu.Devices.Audio;
using PcieEmu.Harness;
using PcieEmu.Harness.Audio;
using PcieEmu.Harness.Qemu;
using Spectre.Console;

namespace PcieEmu.Cli.Commands;

/// <summary>
/// `pcieemu demo`: the README's main job. Boots the guest with the audio card looped back (first playback stream
/// into first capture stream), plays a generated tone with aplay, records it with arecord, checks everything
/// bit-exact (<see cref="LoopbackDemo"/>) and prints one table row per format. Exit 0 only when all matched.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var model = new Option<FileInfo?>("--model") { Description = "Card model file (default: the default audio card)" };
        var output = new Option<DirectoryInfo?>("--out") { Description = "Where the WAV files go (default: a new folder under the temp directory)" };
        var seconds = new Option<double>("--seconds") { Description = "Length of each tone, seconds", DefaultValueFactory = _ => 1.0 };
        var timeout = new Option<int>("--timeout") { Description = "Seconds for the whole demo (boot included)", DefaultValueFactory = _ => 900 };
        var accel = new Option<AcceleratorChoice>("--accel") { Description = "Auto (KVM only with kvm_intel/kvm_amd loaded), Tcg or Kvm", DefaultValueFactory = _ => AcceleratorChoice.Auto };
        var keep = new Option<bool>("--keep-logs") { Description = "Keep the work directory (logs, sockets) even on success" };
        var command = new Command("demo", "Play a tone through the card, record it back through its loopback, check both bit-exact") { model, output, seconds, timeout, accel, keep };
        command.SetAction(async (parse, ct) =>
        {
            using var loggers = CliLogging.Create(parse, Microsoft.Extensions.Logging.LogLevel.Warning);
            double duration = parse.GetValue(seconds);
            if (!(duration is > 0 and <= 60))
            {
                Console.Error.WriteLine($"demo: --seconds {duration.ToString(CultureInfo.InvariantCulture)} is outside (0, 60]");
                return 2;
            }

            string modelPath = parse.GetValue(model)?.FullName ?? DataFiles.DefaultModelPath;
            if (GuestStart.LoadAudioModel("demo", modelPath) is not { } card)
            {
                return 2;
            }

            IReadOnlyDictionary<string, string> routes;
            try
            {
                routes = LoopbackDemo.Routes(card);
            }
            catch (InvalidOperationException e)
            {
                Console.Error.WriteLine($"demo: {modelPath}: {e.Message}");
                return 2;
            }

            string outDir = parse.GetValue(output)?.FullName ?? Directory.CreateTempSubdirectory("pcieemu-demo-").FullName;
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(parse.GetValue(timeout)));
            var options = new GuestSessionOptions
            {
                ModelPaths = [modelPath],
                Accelerator = parse.GetValue(accel),
                KeepWorkDirectory = parse.GetValue(keep),
                Routes = routes,
            };

            if (await GuestStart.StartAsync("demo", options, loggers, deadline.Token) is not { } session)
            {
                return 1;
            }

            await using (session)
            {
                DemoReport report;
                try
                {
                    report = await ProgressDisplay.RunAsync("demo", p =>
                        LoopbackDemo.RunAsync(session, new DemoOptions(outDir) { Duration = TimeSpan.FromSeconds(duration) }, p, deadline.Token));
                }
                catch (Exception e) when (e is GuestSessionException or OperationCanceledException or IOException)
                {
                    session.MarkFailed();
                    Console.Error.WriteLine($"demo: {(e is OperationCanceledException ? "timed out" : e.Message)}");
                    Console.Error.WriteLine(session.DescribeLogs());
                    return 1;
                }

                Print(report, session.Cards[0].Card.Model.Name);
                if (!report.AllMatched)
                {
                    session.MarkFailed();
                    Console.Error.WriteLine(session.DescribeLogs());
                    return 1;
                }

                return 0;
            }
        });
        return command;
    }

    private static void Print(DemoReport report, string cardName)
    {
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 132; // a log file has no width; don't wrap the table at 80
        }

        var table = new Table().Border(TableBorder.Rounded).Title($"[bold]{Markup.Escape(cardName)}[/]: aplay → card → loopback → card → arecord");
        table.AddColumns("format", "periods\nplay/cap", "MSI-X\nplay/cap", "guest\nIRQs", "DMA\nread", "DMA\nwritten", "xruns", "viola-\ntions", "(1)", "(2)", "(3)", "result");
        foreach (var p in report.Passes)
        {
            table.AddRow(
                Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{p.Format.Format.AlsaName()} {p.Format.Rate / 1000.0:0.#}k {p.Format.Channels}ch")),
                $"{Num(p.PlaybackPeriods)}/{Num(p.CapturePeriods)}",
                $"{Num(p.PlaybackInterrupts)}/{Num(p.CaptureInterrupts)}",
                Num(p.GuestInterrupts),
                Bytes(p.DmaReadBytes),
                Bytes(p.DmaWriteBytes),
                Num(p.Xruns),
                p.ViolationCount == 0 ? "0" : $"[red]{p.ViolationCount}: {Markup.Escape(string.Join(", ", p.Violations.Distinct()))}[/]",
                Check(p.Checks.PlaybackExact),
                Check(p.Checks.RecordingExact),
                p.Checks.LoopbackExact ? $"[green]yes[/] @{Num(p.Checks.LoopbackOffsetFrames)}" : "[red]no[/]",
                p.Matched ? "[green]bit-exact[/]" : $"[red]MISMATCH[/]{(p.Failure is null ? "" : " " + Markup.Escape(p.Failure))}");
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("(1) the card's playback DMA read exactly the tone  (2) arecord's file is exactly what the card's capture wrote");
        AnsiConsole.MarkupLine("(3) the whole tone is in the recording unchanged and contiguous, @ the frame where it starts");
        AnsiConsole.MarkupLine($"WAV files (<format>-tone = played, -card-playback = what the card read, -arecord = what the guest recorded): [blue]{Markup.Escape(report.OutputDirectory)}[/]");
        AnsiConsole.MarkupLine(report.AllMatched ? "[green]demo: every sample matched[/]" : "[red]demo: MISMATCH (see the table)[/]");
    }

    private static string Check(bool ok) => ok ? "[green]yes[/]" : "[red]no[/]";

    private static string Num(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Bytes(long n) => n >= 1 << 20
        ? string.Create(CultureInfo.InvariantCulture, $"{n / 1048576.0:0.00} MiB")
        : string.Create(CultureInfo.InvariantCulture, $"{n / 1024.0:0.0} KiB");
}
