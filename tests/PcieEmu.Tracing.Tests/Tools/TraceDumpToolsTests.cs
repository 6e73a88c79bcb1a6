using System.Text.Json;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Tools;

namespace PcieEmu.Tracing.Tests.Tools;

public class TraceDumpToolsTests
{
    [Fact]
    public void Text_dump_starts_with_the_header_summary_then_one_line_per_record()
    {
        using var trace = SyntheticTrace.Audio();
        var lines = DumpText(trace.Path, out long written);

        written.Should().Be(20);
        lines[0].Should().Be("card          pcieemu-audio");
        lines[1].Should().Be("model         Test Audio");
        lines[2].Should().Be($"model sha256  {trace.Header.ModelSha256}");
        lines[3].Should().Be("routes        playback0=memory");
        lines[4].Should().Be("recorded at   2025-03-04T05:06:07.0000000+00:00");
        lines[5].Should().Be("recorder      pcieemu test");
        lines[6].Should().BeEmpty();

        var records = lines.Skip(7).ToList();
        records.Should().HaveCount(20);
        records[1].Should().Be("       1     0.000002000  BarWrite BAR0+0x1004 = 01 00 00 00");
        records[2].Should().Be("       2                    DmaRead 0x20000 (16 B) Ok: 00 07 0e 15 1c 23 2a 31 38 3f 46 4d 54 5b 62 69");
        records[13].Should().Be("      13                    DmaRead 0x31000 (128 B) Unmapped");
        records[16].Should().EndWith("-> 06 04");
    }

    [Fact]
    public void Json_dump_names_each_kinds_fields()
    {
        using var trace = SyntheticTrace.Audio();
        var lines = DumpJson(trace.Path, filter: null);
        lines.Should().HaveCount(21, "the header object, then 20 records");

        using (var header = JsonDocument.Parse(lines[0]))
        {
            var h = header.RootElement;
            h.GetProperty("card").GetString().Should().Be("pcieemu-audio");
            h.GetProperty("model_name").GetString().Should().Be("Test Audio");
            h.GetProperty("model_sha256").GetString().Should().Be(trace.Header.ModelSha256);
            h.GetProperty("routes").GetProperty("playback0").GetString().Should().Be("memory");
            h.GetProperty("recorder").GetString().Should().Be("pcieemu test");
            h.GetProperty("recorded_at").GetDateTimeOffset().Should().Be(trace.Header.RecordedAt);
        }

        var map = Record(lines, 0);
        map.GetProperty("kind").GetString().Should().Be("DmaMap");
        map.GetProperty("time_ns").GetInt64().Should().Be(1500);
        map.GetProperty("address").GetString().Should().Be("0x10000");
        map.GetProperty("size").GetString().Should().Be("0x10000");
        map.GetProperty("access").GetString().Should().Be("ReadWrite");
        map.GetProperty("backing").GetString().Should().Be("shared");
        map.TryGetProperty("unit", out _).Should().BeFalse("units belong to no other unit");

        var write = Record(lines, 1);
        write.GetProperty("kind").GetString().Should().Be("BarWrite");
        write.GetProperty("bar").GetInt32().Should().Be(0);
        write.GetProperty("offset").GetString().Should().Be("0x1004");
        write.GetProperty("data").GetString().Should().Be("01000000");
        write.GetProperty("stream").GetInt32().Should().Be(0);

        var read = Record(lines, 3);
        read.GetProperty("length").GetInt32().Should().Be(4);
        read.TryGetProperty("stream", out _).Should().BeFalse("INTSTS is no stream's register");
        Record(lines, 4).GetProperty("data").GetString().Should().Be("00000100");
        Record(lines, 4).GetProperty("unit").GetInt64().Should().Be(3);
        Record(lines, 4).GetProperty("time_ns").GetInt64().Should().Be(3000, "a nested record carries its unit's time");

        var dma = Record(lines, 6);
        dma.GetProperty("kind").GetString().Should().Be("DmaRead");
        dma.GetProperty("address").GetString().Should().Be("0x30000");
        dma.GetProperty("length").GetInt32().Should().Be(256);
        dma.GetProperty("result").GetString().Should().Be("Ok");
        dma.GetProperty("data").GetString().Should().HaveLength(512).And.StartWith("00070e15");
        dma.GetProperty("unit").GetInt64().Should().Be(5);

        var sink = Record(lines, 7);
        sink.GetProperty("stream").GetInt32().Should().Be(0);
        sink.GetProperty("bytes").GetInt32().Should().Be(256);
        sink.GetProperty("fnv64").GetString().Should().Be("0123456789abcdef");

        Record(lines, 8).GetProperty("length").GetInt32().Should().Be(16);
        var irq = Record(lines, 11);
        irq.GetProperty("irq").GetString().Should().Be("Msix");
        irq.GetProperty("vector").GetInt32().Should().Be(2);
        irq.GetProperty("stream").GetInt32().Should().Be(1);

        var failed = Record(lines, 13);
        failed.GetProperty("result").GetString().Should().Be("Unmapped");
        failed.GetProperty("data").GetString().Should().BeEmpty();

        var violation = Record(lines, 14);
        violation.GetProperty("rule").GetString().Should().Be("StreamUnmapped");
        violation.GetProperty("detail").GetString().Should().Be("buffer DMA at frame 0: Unmapped");

        Record(lines, 15).GetProperty("offset").GetString().Should().Be("0x4");
        Record(lines, 18).GetProperty("stream").GetInt32().Should().Be(1);
    }

    [Fact]
    public void Filter_selects_by_index_count_and_kind()
    {
        using var trace = SyntheticTrace.Audio();

        var window = DumpJson(trace.Path, new TraceDumpFilter { From = 5, Count = 3 }).Skip(1).Select(l => Index(l));
        window.Should().Equal(5, 6, 7);

        var interrupts = DumpJson(trace.Path, new TraceDumpFilter { Kinds = new HashSet<TraceEventKind> { TraceEventKind.Interrupt } }).Skip(1).Select(l => Index(l));
        interrupts.Should().Equal(9, 11);

        DumpText(trace.Path, out long written, new TraceDumpFilter { From = 18 });
        written.Should().Be(2);
    }

    [Fact]
    public void Json_dump_of_a_trace_without_records_is_the_header_alone()
    {
        using var trace = new SyntheticTrace();
        trace.Complete();
        DumpJson(trace.Path, filter: null).Should().ContainSingle().Which.Should().Contain("\"card\":\"pcieemu-audio\"");
    }

    internal static List<string> DumpText(string path, out long written, TraceDumpFilter? filter = null)
    {
        using var reader = TraceReader.Open(path);
        using var output = new StringWriter { NewLine = "\n" };
        written = TraceDump.WriteText(reader, output, filter);
        return [.. output.ToString().Split('\n').SkipLast(1)];
    }

    internal static List<string> DumpJson(string path, TraceDumpFilter? filter)
    {
        using var reader = TraceReader.Open(path);
        using var output = new StringWriter { NewLine = "\n" };
        TraceDump.WriteJson(reader, output, filter);
        return [.. output.ToString().Split('\n').SkipLast(1)];
    }

    private static JsonElement Record(List<string> lines, int index)
    {
        var e = JsonDocument.Parse(lines[index + 1]).RootElement;
        e.GetProperty("index").GetInt64().Should().Be(index);
        return e;
    }

    private static long Index(string line) => JsonDocument.Parse(line).RootElement.GetProperty("index").GetInt64();
}
