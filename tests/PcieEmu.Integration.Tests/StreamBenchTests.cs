using PcieEmu.Devices;
using PcieEmu.Devices.Audio;
using PcieEmu.Harness;
using PcieEmu.Harness.Audio;

namespace PcieEmu.Integration.Tests;

/// <summary>The pro card with every playback stream routed to null, as `pcieemu bench stream` runs it.</summary>
public sealed class ProBenchGuest : GuestFixture
{
    public static string ProModelPath => DataFiles.ProModelPath;

    protected override GuestSessionOptions Options => new()
    {
        ModelPaths = [ProModelPath],
        Routes = new Dictionary<string, string> { ["out0"] = "null", ["out1"] = "null", ["out2"] = "null", ["out3"] = "null" },
    };
}

/// <summary>`bench stream` measures a real run: what it reports must be what the card did (no timing is asserted).</summary>
public sealed class StreamBenchTests(ProBenchGuest guest) : IClassFixture<ProBenchGuest>
{
    [Fact]
    public async Task Every_stream_runs_at_once_and_the_report_adds_up()
    {
        var card = guest.Audio;
        var report = await StreamBench.RunAsync(guest.Session, new StreamBenchOptions
        {
            Duration = TimeSpan.FromSeconds(3),
            IdleWindow = TimeSpan.FromSeconds(1),
            Rate = 96000,
            Format = SampleFormat.S32Le,

            // Periods of a few ms (a period fits one segment): 32 of them ride out a loaded host's guest stalls.
            Periods = 32,
        });

        report.GuestExitCode.Should().Be(0, report.GuestOutput);
        report.AllRanThroughout.Should().BeTrue();
        report.Streams.Select(s => s.Name).Should().Equal(card.Streams.Select(s => s.Layout.Name));
        foreach (var s in report.Streams)
        {
            var layout = card.Stream(s.Name).Layout;
            s.Format.Should().Be(new AudioFormat(SampleFormat.S32Le, 96000, layout.MaxChannels), "each stream runs with its most channels");
            ((long)s.PeriodFrames * s.Format.FrameBytes).Should().BeLessThanOrEqualTo(card.Model.Dma.MaxSegmentBytes, "a period fits one segment (spec §10)");
            s.Frames.Should().BePositive($"{s.Name} moved samples in the window");
            s.Periods.Should().BeInRange((s.Frames / s.PeriodFrames) - 1, (s.Frames / s.PeriodFrames) + 1, "one IOC per period crossed");
            s.Lateness.Count.Should().BePositive();
        }

        report.Lateness.Count.Should().Be(report.Streams.Sum(s => s.Lateness.Count), "the pooled percentiles cover every stream's interrupts");
        report.Lateness.P50.Should().BeLessThanOrEqualTo(report.Lateness.P99);
        report.Lateness.P99.Should().BeLessThanOrEqualTo(report.Lateness.Max);
        report.DmaReadBytes.Should().BeGreaterThanOrEqualTo(report.Streams.Where(s => !s.Capture).Sum(s => s.Frames * s.Format.FrameBytes) - (1 << 20),
            "playback samples came by DMA (window edges aside)");
        report.DmaWriteBytes.Should().BeGreaterThanOrEqualTo(report.Streams.Where(s => s.Capture).Sum(s => s.Frames * s.Format.FrameBytes) - (1 << 20));
        report.Busy.Cpu.Should().BePositive();
        report.Busy.ThreadSeconds.Keys.Should().Contain(k => k.StartsWith(PcieEmu.Pci.Scheduling.DeviceScheduler.ThreadName, StringComparison.Ordinal), "the card scheduler's CPU is shown apart");
        report.Violations.Should().Be(0, string.Join('\n', card.Checker.Snapshot().Select(v => v.Report(card.Checker.SpecName))));
    }
}
