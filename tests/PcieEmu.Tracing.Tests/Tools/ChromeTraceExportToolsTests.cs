using System.Text.Json;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Tools;

namespace PcieEmu.Tracing.Tests.Tools;

public class ChromeTraceExportToolsTests
{
    [Fact]
    public void Export_is_a_trace_event_object_with_named_tracks()
    {
        using var trace = SyntheticTrace.Audio();
        var export = Export(trace.Path, out long events);

        export.Root.GetProperty("displayTimeUnit").GetString().Should().Be("ns");
        export.Root.GetProperty("otherData").GetProperty("card").GetString().Should().Be("pcieemu-audio");
        events.Should().Be(export.Events.Count(e => e.GetProperty("ph").GetString() != "M"));
        events.Should().Be(8 + 5 + 2 + 1 + 1, "8 units, 5 DMAs, 2 interrupts, 1 sink delivery, 1 violation");
        export.Events.Should().OnlyContain(e => e.GetProperty("pid").GetInt32() == 1);
        export.Events.Should().ContainSingle(e => e.GetProperty("name").GetString() == "process_name")
            .Which.GetProperty("args").GetProperty("name").GetString().Should().Be("pcieemu-audio (Test Audio)");
        export.Threads.Values.Should().BeEquivalentTo(
            "DMA map", "stream 0 (playback0) MMIO", "DMA stream 0 (playback0)", "MMIO BAR0", "engine", "DMA other",
            "IRQ vector 1 (Msix)", "IRQ vector 2 (Msix)", "violations", "config", "MMIO BAR2", "stream 1 (capture0) MMIO");
        export.Events.Where(e => e.GetProperty("name").GetString() == "thread_sort_index").Should().HaveCount(export.Threads.Count);
    }

    [Fact]
    public void Units_are_zero_length_slices_at_their_device_time_in_microseconds()
    {
        using var trace = SyntheticTrace.Audio();
        var export = Export(trace.Path, out _);

        var map = export.Single("DmaMap");
        map.GetProperty("ph").GetString().Should().Be("X");
        map.GetProperty("ts").GetDouble().Should().Be(1.5);
        map.GetProperty("dur").GetDouble().Should().Be(0);
        export.TrackOf(map).Should().Be("DMA map");
        map.GetProperty("args").GetProperty("address").GetString().Should().Be("0x10000");

        var run = export.Single("write SD_CTL");
        export.TrackOf(run).Should().Be("stream 0 (playback0) MMIO");
        run.GetProperty("ts").GetDouble().Should().Be(2.0);
        run.GetProperty("args").GetProperty("value").GetString().Should().Be("0x00000001");
        run.GetProperty("args").GetProperty("offset").GetString().Should().Be("0x1004");

        var intsts = export.Single("read INTSTS");
        export.TrackOf(intsts).Should().Be("MMIO BAR0");
        intsts.GetProperty("args").GetProperty("value").GetString().Should().Be("0x00010000", "the ReadData after the unit is its value");

        export.TrackOf(export.Single("read SD_STS")).Should().Be("stream 1 (capture0) MMIO");
        export.TrackOf(export.Single("write 0x10")).Should().Be("MMIO BAR2");
        var config = export.Single("ConfigRead");
        export.TrackOf(config).Should().Be("config");
        config.GetProperty("ts").GetDouble().Should().Be(9.0);
        config.GetProperty("args").GetProperty("value").GetString().Should().Be("0x0406");

        export.Named("step").Select(e => e.GetProperty("ts").GetDouble()).Should().Equal(5.0, 6.0);
        export.Named("step").Should().OnlyContain(e => export.TrackOf(e) == "engine");
    }

    [Fact]
    public void DMA_goes_to_the_stream_its_unit_or_its_sink_delivery_names_else_to_other()
    {
        using var trace = SyntheticTrace.Audio();
        var export = Export(trace.Path, out _);

        var dma = export.Events.Where(e => e.GetProperty("name").GetString() is "DmaRead" or "DmaWrite")
            .Select(e => (Address: e.GetProperty("args").GetProperty("address").GetString(), Track: export.TrackOf(e), Ts: e.GetProperty("ts").GetDouble()))
            .OrderBy(d => d.Address, StringComparer.Ordinal);
        dma.Should().Equal(
            ("0x20000", "DMA stream 0 (playback0)", 2.0),
            ("0x30000", "DMA stream 0 (playback0)", 5.0),
            ("0x31000", "DMA other", 6.0),
            ("0x40000", "DMA other", 5.0),
            ("0x50000", "DMA other", 5.0));
        var failed = export.Events.Single(e => e.GetProperty("args").TryGetProperty("result", out var r) && r.GetString() == "Unmapped");
        failed.GetProperty("args").GetProperty("length").GetInt32().Should().Be(128);
    }

    [Fact]
    public void Interrupts_sink_deliveries_and_violations_are_instant_events()
    {
        using var trace = SyntheticTrace.Audio();
        var export = Export(trace.Path, out _);

        var irq = export.Single("Msix vector 2");
        irq.GetProperty("ph").GetString().Should().Be("i");
        irq.GetProperty("s").GetString().Should().Be("t");
        irq.GetProperty("ts").GetDouble().Should().Be(5.0);
        export.TrackOf(irq).Should().Be("IRQ vector 2 (Msix)");
        irq.GetProperty("args").GetProperty("stream").GetInt32().Should().Be(1);

        var sink = export.Single("sink");
        export.TrackOf(sink).Should().Be("DMA stream 0 (playback0)");
        sink.GetProperty("args").GetProperty("bytes").GetInt32().Should().Be(256);

        var violation = export.Single("StreamUnmapped");
        violation.GetProperty("ph").GetString().Should().Be("i");
        export.TrackOf(violation).Should().Be("violations");
        violation.GetProperty("ts").GetDouble().Should().Be(6.0);
    }

    [Fact]
    public void A_failed_read_keeps_the_reads_before_it_from_the_next_sink_delivery()
    {
        using var trace = new SyntheticTrace();
        trace.Unit(TraceEventKind.SchedulerStep, 1_234_567)
            .DmaRead(0xA000, 8).DmaRead(0xB000, 8, DmaResult.AccessDenied).DmaRead(0xC000, 8).Sink(1, 8, 0)
            .DmaRead(0xD000, 8);
        trace.Complete();
        var export = Export(trace.Path, out _);

        var tracks = export.Named("DmaRead").ToDictionary(e => e.GetProperty("args").GetProperty("address").GetString()!, export.TrackOf);
        tracks.Should().Equal(new Dictionary<string, string>
        {
            ["0xa000"] = "DMA other",
            ["0xb000"] = "DMA other",
            ["0xc000"] = "DMA stream 1 (capture0)",
            ["0xd000"] = "DMA other",
        });
        export.Named("DmaRead").Should().OnlyContain(e => e.GetProperty("ts").GetDouble() == 1234.567);
    }

    [Fact]
    public void Another_card_gets_BAR_and_plain_DMA_tracks()
    {
        using var trace = new SyntheticTrace(card: "some-other-card", modelJson: "{}");
        trace.Unit(TraceEventKind.BarWrite, 10, 0, 0x1004, data: [1, 0]).DmaWrite(0x9000, 4);
        trace.Complete();
        var export = Export(trace.Path, out _);

        export.TrackOf(export.Single("write 0x1004")).Should().Be("MMIO BAR0");
        export.Single("write 0x1004").GetProperty("args").GetProperty("value").GetString().Should().Be("0x0001");
        export.TrackOf(export.Single("DmaWrite")).Should().Be("DMA");
    }

    [Fact]
    public void A_capture_write_after_its_StreamWork_record_is_on_the_streams_DMA_track()
    {
        using var trace = new SyntheticTrace();
        trace.Unit(TraceEventKind.SchedulerStep, 100).StreamWork(1).DmaWrite(0x2000, 32).Unit(TraceEventKind.SchedulerStep, 200).DmaWrite(0x3000, 16);
        trace.Complete();
        var export = Export(trace.Path, out _);

        var writes = export.Named("DmaWrite").ToList();
        writes.Should().HaveCount(2);
        export.TrackOf(writes[0]).Should().Be("DMA stream 1 (capture0)");
        export.TrackOf(writes[1]).Should().NotBe("DMA stream 1 (capture0)", "a new unit ends the stream's turn");
    }

    private static ChromeExport Export(string path, out long events)
    {
        using var reader = TraceReader.Open(path);
        var output = new MemoryStream();
        events = ChromeTraceExport.Write(reader, output);
        return new ChromeExport(JsonDocument.Parse(output.ToArray()));
    }

    private sealed class ChromeExport(JsonDocument document)
    {
        public JsonElement Root { get; } = document.RootElement;

        public List<JsonElement> Events { get; } = [.. document.RootElement.GetProperty("traceEvents").EnumerateArray()];

        public Dictionary<int, string> Threads => Events
            .Where(e => e.GetProperty("name").GetString() == "thread_name")
            .ToDictionary(e => e.GetProperty("tid").GetInt32(), e => e.GetProperty("args").GetProperty("name").GetString()!);

        public IEnumerable<JsonElement> Named(string name) =>
            Events.Where(e => e.GetProperty("name").GetString() == name && e.GetProperty("ph").GetString() != "M");

        public JsonElement Single(string name) => Named(name).Should().ContainSingle().Subject;

        public string TrackOf(JsonElement e) => Threads[e.GetProperty("tid").GetInt32()];
    }
}
