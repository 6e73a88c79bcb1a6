using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Tools;

/// <summary>`trace stats` output: plain-text tables (this project has no console library) or one JSON object.</summary>
public static class TraceStatsReport
{
    /// <summary>A summary block, then one table per section (records by kind, MMIO, interrupts, streams, violations); empty sections are left out.</summary>
    public static void WriteText(TraceStatistics s, TextWriter output)
    {
        var h = s.Header;
        output.WriteLine($"card        {h.Card} ({h.ModelName}, model sha256 {h.ModelSha256[..Math.Min(12, h.ModelSha256.Length)]})");
        output.WriteLine(Invariant($"file        {s.FileBytes} B, {s.Records} records, {s.BytesPerRecord:F1} B/record"));
        output.WriteLine($"units       {s.Units} over {TraceEventText.Seconds(s.DurationNanoseconds)} s (device clock {TraceEventText.Seconds(s.FirstUnitTime)} to {TraceEventText.Seconds(s.LastUnitTime)})");
        output.WriteLine(Invariant($"DMA read    {s.DmaBytesRead} B in {s.DmaReads} transfers, {Rate(s.DmaReadMBps)} MB/s"));
        output.WriteLine(Invariant($"DMA write   {s.DmaBytesWritten} B in {s.DmaWrites} transfers, {Rate(s.DmaWriteMBps)} MB/s"));
        output.WriteLine(Invariant($"DMA total   {Rate(s.DmaMBps)} MB/s"));
        output.WriteLine($"DMA failed  {(s.FailedDmaByResult.Count == 0 ? "none" : string.Join(", ", s.FailedDmaByResult.Select(f => Invariant($"{f.Key} {f.Value}"))))}");
        output.WriteLine(Invariant($"interrupts  {s.InterruptCount}"));
        output.WriteLine(Invariant($"violations  {s.ViolationsByRule.Values.Sum()}"));

        Section(output, "records by kind", ["kind", "count"], s.RecordsByKind.Select(k => new[] { k.Key, Num(k.Value) }));
        Section(output, "MMIO", ["bar", "reads", "writes"], s.Bars.Select(b => new[] { Num(b.Bar), Num(b.Reads), Num(b.Writes) }));
        Section(output, "interrupts", ["irq", "vector", "count", "per second"],
            s.Interrupts.Select(i => new[] { i.Index.ToString(), Num((long)i.Vector), Num(i.Count), Rate(i.PerSecond) }));
        Section(output, "streams", ["stream", "name", "mmio reads", "mmio writes", "interrupts", "dma bytes", "sink records", "sink bytes"],
            s.Streams.Select(t => new[] { Num(t.Stream), t.Name, Num(t.MmioReads), Num(t.MmioWrites), Num(t.Interrupts), Num(t.DmaBytes), Num(t.SinkRecords), Num(t.SinkBytes) }));
        Section(output, "violations", ["rule", "count"], s.ViolationsByRule.Select(v => new[] { v.Key, Num(v.Value) }));
    }

    /// <summary>One indented JSON object with the same figures, snake_case keys, rates null when the duration is zero; UTF-8 to <paramref name="output"/>, left open.</summary>
    public static void WriteJson(TraceStatistics s, Stream output)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteString("card", s.Header.Card);
        w.WriteString("model_name", s.Header.ModelName);
        w.WriteString("model_sha256", s.Header.ModelSha256);
        w.WriteNumber("file_bytes", s.FileBytes);
        w.WriteNumber("records", s.Records);
        w.WriteNumber("bytes_per_record", s.BytesPerRecord);
        w.WriteNumber("units", s.Units);
        w.WriteNumber("first_unit_ns", s.FirstUnitTime);
        w.WriteNumber("last_unit_ns", s.LastUnitTime);
        w.WriteNumber("duration_ns", s.DurationNanoseconds);
        w.WriteStartObject("records_by_kind");
        foreach (var (kind, count) in s.RecordsByKind)
        {
            w.WriteNumber(kind.ToString(), count);
        }

        w.WriteEndObject();
        w.WriteStartObject("dma");
        w.WriteNumber("reads", s.DmaReads);
        w.WriteNumber("writes", s.DmaWrites);
        w.WriteNumber("bytes_read", s.DmaBytesRead);
        w.WriteNumber("bytes_written", s.DmaBytesWritten);
        NumberOrNull(w, "read_mbps", s.DmaReadMBps);
        NumberOrNull(w, "write_mbps", s.DmaWriteMBps);
        NumberOrNull(w, "total_mbps", s.DmaMBps);
        w.WriteStartObject("failed");
        foreach (var (result, count) in s.FailedDmaByResult)
        {
            w.WriteNumber(result.ToString(), count);
        }

        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartArray("interrupts");
        foreach (var i in s.Interrupts)
        {
            w.WriteStartObject();
            w.WriteString("irq", i.Index.ToString());
            w.WriteNumber("vector", i.Vector);
            w.WriteNumber("count", i.Count);
            NumberOrNull(w, "per_second", i.PerSecond);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("bars");
        foreach (var b in s.Bars)
        {
            w.WriteStartObject();
            w.WriteNumber("bar", b.Bar);
            w.WriteNumber("reads", b.Reads);
            w.WriteNumber("writes", b.Writes);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("streams");
        foreach (var t in s.Streams)
        {
            w.WriteStartObject();
            w.WriteNumber("stream", t.Stream);
            w.WriteString("name", t.Name);
            w.WriteNumber("mmio_reads", t.MmioReads);
            w.WriteNumber("mmio_writes", t.MmioWrites);
            w.WriteNumber("interrupts", t.Interrupts);
            w.WriteNumber("sink_records", t.SinkRecords);
            w.WriteNumber("sink_bytes", t.SinkBytes);
            w.WriteNumber("dma_bytes", t.DmaBytes);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("violations");
        foreach (var (rule, count) in s.ViolationsByRule)
        {
            w.WriteNumber(rule, count);
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>A titled table with left-aligned text columns; omitted when it has no rows.</summary>
    private static void Section(TextWriter output, string title, string[] columns, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        if (all.Count == 0)
        {
            return;
        }

        var widths = columns.Select((c, i) => Math.Max(c.Length, all.Max(r => r[i].Length))).ToArray();
        output.WriteLine();
        output.WriteLine(title);
        WriteRow(columns);
        foreach (var r in all)
        {
            WriteRow(r);
        }

        void WriteRow(string[] cells) =>
            output.WriteLine(("  " + string.Join("  ", cells.Select((c, i) => c.PadRight(widths[i])))).TrimEnd());
    }

    private static void NumberOrNull(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    /// <summary>Three decimals, or "-" when the trace spans no time.</summary>
    private static string Rate(double? value) => value is { } v ? v.ToString("F3", CultureInfo.InvariantCulture) : "-";

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
