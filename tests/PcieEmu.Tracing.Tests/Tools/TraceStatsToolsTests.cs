using System.Text.Json;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Devices.Common;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Tools;

namespace PcieEmu.Tracing.Tests.Tools;

public class TraceStatsToolsTests
{
    [Fact]
    public void Counts_records_units_and_duration()
    {
        using var trace = SyntheticTrace.Audio();
        var s = TraceStatistics.Compute(trace.Path);

        s.Records.Should().Be(20);
        s.Units.Should().Be(8);
        s.FirstUnitTime.Should().Be(1500);
        s.LastUnitTime.Should().Be(11500);
        s.DurationNanoseconds.Should().Be(10_000);
        s.FileBytes.Should().Be(new FileInfo(trace.Path).Length);
        s.BytesPerRecord.Should().Be(s.FileBytes / 20.0);
        s.RecordsByKind.Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["ConfigRead"] = 1,
            ["BarRead"] = 2,
            ["BarWrite"] = 2,
            ["DmaMap"] = 1,
            ["SchedulerStep"] = 2,
            ["ReadData"] = 3,
            ["DmaRead"] = 3,
            ["DmaWrite"] = 2,
            ["Interrupt"] = 2,
            ["Violation"] = 1,
            ["SinkData"] = 1,
        });
    }

    [Fact]
    public void DMA_counts_successful_bytes_and_failures_by_result_and_bandwidth_over_the_duration()
    {
        using var trace = SyntheticTrace.Audio();
        var s = TraceStatistics.Compute(trace.Path);

        s.DmaReads.Should().Be(2);
        s.DmaBytesRead.Should().Be(16 + 256);
        s.DmaWrites.Should().Be(2);
        s.DmaBytesWritten.Should().Be(16 + 64);
        s.FailedDmaByResult.Should().Equal(new Dictionary<DmaResult, long> { [DmaResult.Unmapped] = 1 });
        s.DmaReadMBps.Should().BeApproximately(27.2, 1e-9, "272 B in 10 µs");
        s.DmaWriteMBps.Should().BeApproximately(8.0, 1e-9);
        s.DmaMBps.Should().BeApproximately(35.2, 1e-9);
    }

    [Fact]
    public void Interrupts_MMIO_streams_and_violations()
    {
        using var trace = SyntheticTrace.Audio();
        var s = TraceStatistics.Compute(trace.Path);

        s.Interrupts.Should().Equal(
            new InterruptFigures(IrqIndex.Msix, 1, 1, 100_000),
            new InterruptFigures(IrqIndex.Msix, 2, 1, 100_000));
        s.InterruptCount.Should().Be(2);
        s.Bars.Should().Equal(new BarFigures(0, 2, 1), new BarFigures(2, 0, 1));
        s.Streams.Should().Equal(
            new StreamFigures(0, "playback0", MmioReads: 0, MmioWrites: 1, Interrupts: 1, SinkRecords: 1, SinkBytes: 256, DmaBytes: 0),
            new StreamFigures(1, "capture0", MmioReads: 1, MmioWrites: 0, Interrupts: 1, SinkRecords: 0, SinkBytes: 0, DmaBytes: 0));
        s.ViolationsByRule.Should().Equal(new Dictionary<string, long> { ["StreamUnmapped"] = 1 });
    }

    [Fact]
    public void Engine_DMA_after_a_StreamWork_record_counts_for_that_stream_until_the_next_one_or_the_unit_ends()
    {
        using var trace = new SyntheticTrace();
        trace.Unit(TraceEventKind.SchedulerStep, 100).StreamWork(0).DmaRead(0x1000, 64).Sink(0, 64, 1).StreamWork(1).DmaWrite(0x2000, 32).DmaWrite(0x3000, 16)
            .Unit(TraceEventKind.SchedulerStep, 200).DmaWrite(0x4000, 8);
        trace.Complete();

        var s = TraceStatistics.Compute(trace.Path);

        s.Streams.Select(t => (t.Stream, t.DmaBytes)).Should().Equal((0, 64L), (1, 48L));
        s.DmaBytesWritten.Should().Be(56, "the last write follows no StreamWork in its unit: it counts, for no stream");
    }

    [Fact]
    public void A_trace_spanning_no_time_has_no_rates()
    {
        using var trace = new SyntheticTrace();
        trace.Unit(TraceEventKind.SchedulerStep, 700).DmaRead(0x1000, 8).Interrupt(IrqIndex.Msi, 0);
        trace.Complete();
        var s = TraceStatistics.Compute(trace.Path);

        s.DurationNanoseconds.Should().Be(0);
        s.DmaReadMBps.Should().BeNull();
        s.Interrupts.Should().Equal(new InterruptFigures(IrqIndex.Msi, 0, 1, null));
        s.Streams.Should().BeEmpty("vector 0 signals global causes, not a stream");

        using var text = new StringWriter();
        TraceStatsReport.WriteText(s, text);
        text.ToString().Should().Contain("DMA read    8 B in 1 transfers, - MB/s");
    }

    [Fact]
    public void Another_card_gets_no_stream_attribution()
    {
        using var trace = new SyntheticTrace(card: "some-other-card", modelJson: "{}");
        trace.Unit(TraceEventKind.BarWrite, 10, 0, 0x1004, data: [1, 0, 0, 0]).Interrupt(IrqIndex.Msix, 1);
        trace.Complete();
        var s = TraceStatistics.Compute(trace.Path);

        s.Streams.Should().BeEmpty();
        s.Bars.Should().Equal(new BarFigures(0, 0, 1));
    }

    [Fact]
    public void Text_report_shows_the_figures_in_tables()
    {
        using var trace = SyntheticTrace.Audio();
        using var output = new StringWriter { NewLine = "\n" };
        TraceStatsReport.WriteText(TraceStatistics.Compute(trace.Path), output);
        var lines = output.ToString().Split('\n');

        lines.Should().Contain("units       8 over 0.000010000 s (device clock 0.000001500 to 0.000011500)");
        lines.Should().Contain("DMA read    272 B in 2 transfers, 27.200 MB/s");
        lines.Should().Contain("DMA write   80 B in 2 transfers, 8.000 MB/s");
        lines.Should().Contain("DMA failed  Unmapped 1");
        lines.Should().Contain("  Msix  1       1      100000.000");
        lines.Should().Contain("  0       playback0  0           1            1           0          1             256");
        lines.Should().Contain("  StreamUnmapped  1");
    }

    [Fact]
    public void Json_report_carries_the_same_numbers()
    {
        using var trace = SyntheticTrace.Audio();
        var stream = new MemoryStream();
        TraceStatsReport.WriteJson(TraceStatistics.Compute(trace.Path), stream);
        var root = JsonDocument.Parse(stream.ToArray()).RootElement;

        root.GetProperty("records").GetInt64().Should().Be(20);
        root.GetProperty("duration_ns").GetInt64().Should().Be(10_000);
        root.GetProperty("records_by_kind").GetProperty("DmaRead").GetInt64().Should().Be(3);
        var dma = root.GetProperty("dma");
        dma.GetProperty("bytes_read").GetInt64().Should().Be(272);
        dma.GetProperty("read_mbps").GetDouble().Should().BeApproximately(27.2, 1e-9);
        dma.GetProperty("failed").GetProperty("Unmapped").GetInt64().Should().Be(1);
        root.GetProperty("interrupts")[1].GetProperty("vector").GetInt32().Should().Be(2);
        root.GetProperty("streams")[0].GetProperty("sink_bytes").GetInt64().Should().Be(256);
        root.GetProperty("bars")[0].GetProperty("reads").GetInt64().Should().Be(2);
        root.GetProperty("violations").GetProperty("StreamUnmapped").GetInt64().Should().Be(1);
    }
}
