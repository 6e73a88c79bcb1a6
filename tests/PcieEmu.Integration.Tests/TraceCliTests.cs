using System.Text.Json;
using PcieEmu.Devices;
using PcieEmu.Devices.Audio;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Integration.Tests;

/// <summary>
/// The trace workflow as a driver developer runs it (src/PcieEmu.Tracing/TRACE-FORMAT.md): `pcieemu boot --trace`
/// around a real aplay, then `replay`, `trace stats`, `trace dump --json` and `trace export --format chrome` on the
/// file, each a process with its exit code.
/// </summary>
public sealed class TraceCliTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Boot_with_trace_records_a_session_that_replays_identically_and_the_tools_read()
    {
        string dir = Directory.CreateTempSubdirectory("pcieemu-trace-cli-").FullName;
        try
        {
            string share = Directory.CreateDirectory(Path.Combine(dir, "share")).FullName;
            string traces = Path.Combine(dir, "traces");
            var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
            await File.WriteAllBytesAsync(Path.Combine(share, "cli.raw"), AudioFiles.Samples(format, 4800, seed: 9950));

            var boot = await CliProcess.RunAsync(TimeSpan.FromMinutes(10), "boot", "--trace", traces, "--share", share, "--exec", AudioFiles.Play("cli.raw", format, periodFrames: 960));

            boot.Exit.Should().Be(0, $"stdout:\n{boot.Stdout}\nstderr:\n{boot.Stderr}");
            string trace = Path.Combine(traces, "card0.petrace");
            boot.Stderr.Should().Contain($"recording {trace}");
            File.Exists(trace).Should().BeTrue();

            var replay = await CliProcess.RunAsync(Quick, "replay", trace);
            replay.Exit.Should().Be(0, replay.Stdout + replay.Stderr);
            replay.Stdout.Should().Contain(": identical — ").And.Contain("records/s");

            var stats = await CliProcess.RunAsync(Quick, "trace", "stats", trace);
            stats.Exit.Should().Be(0, stats.Stderr);
            stats.Stdout.Should().Contain("playback0").And.Contain("interrupts");

            var dump = await CliProcess.RunAsync(Quick, "trace", "dump", "--json", trace);
            dump.Exit.Should().Be(0, dump.Stderr);
            var lines = dump.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            lines.Length.Should().Be(1 + TraceReader.ReadAll(trace).Count(), "a header line, then one line per record");
            lines.Should().AllSatisfy(l => JsonDocument.Parse(l).Dispose());

            string chrome = Path.Combine(dir, "timeline.json");
            var export = await CliProcess.RunAsync(Quick, "trace", "export", "--format", "chrome", trace, "-o", chrome);
            export.Exit.Should().Be(0, export.Stderr);
            using (var doc = JsonDocument.Parse(await File.ReadAllTextAsync(chrome)))
            {
                doc.RootElement.GetProperty("traceEvents").GetArrayLength().Should().BeGreaterThan(100);
            }

            string pro = Path.Combine(Repository.Root, "firmware-models", "pcieemu-audio", "pro.json");
            var wrongModel = await CliProcess.RunAsync(Quick, "replay", trace, "--model", pro);
            wrongModel.Exit.Should().Be(2);
            wrongModel.Stderr.Should().Contain("was recorded with model \"PcieEmu Audio\"").And.Contain("PcieEmu Audio Pro");

            string changed = ChangeFirstInterruptVector(trace, Path.Combine(dir, "changed.petrace"));
            var diverged = await CliProcess.RunAsync(Quick, "replay", changed);
            diverged.Exit.Should().Be(1, diverged.Stdout + diverged.Stderr);
            diverged.Stdout.Should().Contain("DIVERGED").And.Contain("replay diverged at record").And.Contain("replayed: Interrupt Msix vector 1");

            File.WriteAllBytes(Path.Combine(dir, "cut.petrace"), File.ReadAllBytes(trace)[..1000]);
            var cut = await CliProcess.RunAsync(Quick, "replay", Path.Combine(dir, "cut.petrace"));
            cut.Exit.Should().Be(2);
            cut.Stderr.Should().Contain("truncated").And.NotContain("   at ", "a clear error, not a stack trace");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// `serve --trace` under a vfio-user client (bench rtt): without --persist the server ends with its only client,
    /// and a supervisor's SIGTERM may land at any moment of that shutdown — before, during or after the trace is
    /// finished. Whenever it lands, the exit code is 0 and the file is complete and replays identically.
    /// </summary>
    [Fact]
    public async Task Serve_with_trace_records_every_client_access_and_the_trace_replays_identically()
    {
        string dir = Directory.CreateTempSubdirectory("pcieemu-serve-trace-").FullName;
        try
        {
            string socket = Path.Combine(dir, "vu.sock");
            string trace = Path.Combine(dir, "serve.petrace");
            using var server = ServeProcess.Start(socket, extra: ["--trace", trace]);
            await server.WaitForSocketAsync();

            var rtt = await CliProcess.RunAsync(Quick, "bench", "rtt", "--socket", socket, "--count", "2000", "--warmup", "0", "--offset", "8");
            rtt.Exit.Should().Be(0, rtt.Stderr);
            var exited = server.WaitForExitAsync(Quick);
            while (!exited.IsCompleted)
            {
                server.Terminate(); // at every moment of the shutdown, until it has happened
                await Task.WhenAny(exited, Task.Delay(10));
            }

            (await exited).Should().Be(0, await server.OutputAsync());

            var reads = TraceReader.ReadAll(trace).Where(e => e.Kind == TraceEventKind.BarRead && e.A == 0 && e.B == 8).ToList();
            reads.Should().HaveCount(2000, "every timed REGION_READ of CAPS is a unit");
            var replay = await CliProcess.RunAsync(Quick, "replay", trace);
            replay.Exit.Should().Be(0, replay.Stdout + replay.Stderr);
            replay.Stdout.Should().Contain(": identical — ");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Boot_with_trace_refuses_unshared_guest_ram_before_booting()
    {
        var boot = await CliProcess.RunAsync(Quick, "boot", "--trace", Path.GetTempPath(), "--unshared-ram", "--exec", "true");

        boot.Exit.Should().Be(2);
        boot.Stderr.Should().Contain("--trace needs shared guest RAM");
    }

    /// <summary>A copy whose first stream interrupt claims vector 3: the device raises vector 1 (stream 0, spec §5).</summary>
    private static string ChangeFirstInterruptVector(string source, string destination)
    {
        using var reader = TraceReader.Open(source);
        using var writer = new TraceWriter(destination, reader.Header);
        bool changed = false;
        while (reader.TryRead(out var e))
        {
            if (!changed && e.Kind == TraceEventKind.Interrupt && e.B == 1)
            {
                changed = true;
                writer.Write(new TraceRecord(e.Kind, a: e.A, b: 3));
                continue;
            }

            writer.Write(e.ToRecord());
        }

        writer.Complete();
        changed.Should().BeTrue("playback raised period interrupts");
        return destination;
    }
}
