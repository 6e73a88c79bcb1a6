using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using PcieEmu.Pci;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Tools;

/// <summary>Which records a dump shows. Records are selected by index and kind; the rest are read (and checked) and skipped.</summary>
public sealed record TraceDumpFilter
{
    /// <summary>Index of the first record to consider.</summary>
    public long From { get; init; }

    /// <summary>Stop after this many records were written (null: to the end, and the whole file is checked).</summary>
    public long? Count { get; init; }

    /// <summary>Only these kinds (null: all).</summary>
    public IReadOnlySet<TraceEventKind>? Kinds { get; init; }

    /// <summary>Every record, from the first.</summary>
    public static TraceDumpFilter All { get; } = new();

    internal bool Selects(TraceEvent e) => e.Index >= From && (Kinds is null || Kinds.Contains(e.Kind));
}

/// <summary>
/// `trace dump`: a trace as text (a header summary, then one line per record: index, device time for units, what it
/// says) or as JSON lines (the header object, then one object per record with the kind's fields named). One record in
/// memory at a time. Both read from where the reader stands and throw <see cref="TraceFormatException"/>
/// on a damaged file.
/// </summary>
public static class TraceDump
{
    /// <summary>Writes the header summary and the selected records; returns how many records were written.</summary>
    public static long WriteText(TraceReader reader, TextWriter output, TraceDumpFilter? filter = null)
    {
        var h = reader.Header;
        output.WriteLine($"card          {h.Card}");
        output.WriteLine($"model         {h.ModelName}");
        output.WriteLine($"model sha256  {h.ModelSha256}");
        output.WriteLine($"routes        {(h.Routes.Count == 0 ? "(none)" : string.Join(", ", h.Routes.Select(r => $"{r.Key}={r.Value}")))}");
        output.WriteLine($"recorded at   {h.RecordedAt.ToString("O", CultureInfo.InvariantCulture)}");
        output.WriteLine($"recorder      {(h.Recorder.Length == 0 ? "(unknown)" : h.Recorder)}");
        output.WriteLine();
        return Select(reader, filter ?? TraceDumpFilter.All, (e, _) => output.WriteLine(TraceEventText.Line(e, reader.Schema)));
    }

    /// <summary>Writes the header object and one object per selected record, one per line; returns the records written.</summary>
    public static long WriteJson(TraceReader reader, TextWriter output, TraceDumpFilter? filter = null)
    {
        var streams = AudioStreamMap.For(reader.Header);
        using var line = new JsonLineWriter(output);
        line.Write(w => WriteHeader(w, reader.Header));
        return Select(reader, filter ?? TraceDumpFilter.All, (e, unit) => line.Write(w => WriteRecord(w, e, unit, streams, reader.Schema)));
    }

    private static long Select(TraceReader reader, TraceDumpFilter filter, Action<TraceEvent, long> write)
    {
        long written = 0;
        long unit = -1;
        while ((filter.Count is null || written < filter.Count) && reader.TryRead(out var e))
        {
            if (e.IsUnit)
            {
                unit = e.Index;
            }

            if (filter.Selects(e))
            {
                write(e, unit);
                written++;
            }
        }

        return written;
    }

    private static void WriteHeader(Utf8JsonWriter w, TraceHeader h)
    {
        w.WriteStartObject();
        w.WriteString("card", h.Card);
        w.WriteString("model_name", h.ModelName);
        w.WriteString("model_sha256", h.ModelSha256);
        w.WriteStartObject("routes");
        foreach (var (stream, route) in h.Routes)
        {
            w.WriteString(stream, route);
        }

        w.WriteEndObject();
        w.WriteString("recorded_at", h.RecordedAt);
        w.WriteString("recorder", h.Recorder);
        w.WriteEndObject();
    }

    /// <param name="w">The JSON line being written.</param>
    /// <param name="e">The record.</param>
    /// <param name="unit">Index of the unit a nested record belongs to (-1 before the first unit).</param>
    /// <param name="streams">The audio card's stream names, for stream attribution; null for other cards.</param>
    /// <param name="schema">The trace's record kinds, for device kinds' names and fields.</param>
    private static void WriteRecord(Utf8JsonWriter w, TraceEvent e, long unit, AudioStreamMap? streams, RecordSchema schema)
    {
        w.WriteStartObject();
        w.WriteNumber("index", e.Index);
        w.WriteString("kind", schema.NameOf(e.Kind));
        w.WriteNumber("time_ns", e.Time);
        if (!e.IsUnit)
        {
            w.WriteNumber("unit", unit);
        }

        WriteFields(w, e, streams, schema);
        w.WriteEndObject();
    }

    private static void WriteFields(Utf8JsonWriter w, TraceEvent e, AudioStreamMap? streams, RecordSchema schema)
    {
        switch (e.Kind)
        {
            case TraceEventKind.ConfigRead or TraceEventKind.RomRead:
                w.WriteString("offset", TraceValueNames.Hex(e.A));
                w.WriteNumber("length", e.B);
                break;
            case TraceEventKind.ConfigWrite:
                w.WriteString("offset", TraceValueNames.Hex(e.A));
                w.WriteString("data", Convert.ToHexStringLower(e.Data));
                break;
            case TraceEventKind.BarRead or TraceEventKind.BarWrite:
                w.WriteNumber("bar", e.A);
                w.WriteString("offset", TraceValueNames.Hex(e.B));
                if (e.Kind == TraceEventKind.BarRead)
                {
                    w.WriteNumber("length", e.C);
                }
                else
                {
                    w.WriteString("data", Convert.ToHexStringLower(e.Data));
                }

                WriteStream(w, streams?.StreamOfMmio(e.A, e.B));
                break;
            case TraceEventKind.Reset:
                w.WriteString("reset", TraceValueNames.Of<ResetKind>(e.A));
                break;
            case TraceEventKind.DmaMap:
                w.WriteString("address", TraceValueNames.Hex(e.A));
                w.WriteString("size", TraceValueNames.Hex(e.B));
                w.WriteString("access", TraceValueNames.Of<DmaAccess>(e.C & (ulong)DmaAccess.ReadWrite));
                w.WriteString("backing", (e.C & DmaController.LocalBackingFlag) != 0 ? "shared" : "message");
                break;
            case TraceEventKind.DmaUnmap:
                w.WriteString("address", TraceValueNames.Hex(e.A));
                w.WriteString("size", TraceValueNames.Hex(e.B));
                break;
            case TraceEventKind.IrqAssign:
                w.WriteString("irq", TraceValueNames.Of<IrqIndex>(e.A));
                w.WriteNumber("start", e.B);
                w.WriteStartArray("assigned");
                foreach (byte present in e.Data)
                {
                    w.WriteBooleanValue(present != 0);
                }

                w.WriteEndArray();
                break;
            case TraceEventKind.IrqDisable:
                w.WriteString("irq", TraceValueNames.Of<IrqIndex>(e.A));
                break;
            case TraceEventKind.IrqMask:
                w.WriteString("irq", TraceValueNames.Of<IrqIndex>(e.A));
                w.WriteNumber("start", e.B);
                w.WriteNumber("count", e.C & 0xFFFF_FFFF);
                w.WriteBoolean("masked", (e.C >> 32) != 0);
                break;
            case TraceEventKind.IrqInject or TraceEventKind.Interrupt:
                w.WriteString("irq", TraceValueNames.Of<IrqIndex>(e.A));
                w.WriteNumber("vector", e.B);
                if (e.Kind == TraceEventKind.Interrupt)
                {
                    WriteStream(w, streams?.StreamOfVector(e.A, e.B));
                }

                break;
            case TraceEventKind.ReadData:
                w.WriteString("data", Convert.ToHexStringLower(e.Data));
                break;
            case TraceEventKind.DmaRead or TraceEventKind.DmaWrite:
                w.WriteString("address", TraceValueNames.Hex(e.A));
                w.WriteNumber("length", e.Kind == TraceEventKind.DmaRead ? e.B : (ulong)e.Data.Length);
                w.WriteString("result", TraceValueNames.Of<DmaResult>(e.C));
                w.WriteString("data", Convert.ToHexStringLower(e.Data));
                break;
            case var violationKind when schema.Is(violationKind, "Violation"):
                w.WriteString("rule", e.Text);
                w.WriteString("detail", e.Detail);
                break;
            case TraceEventKind.Work:
                w.WriteNumber("stream", e.A);
                break;
            case var sinkKind when schema.Is(sinkKind, "SinkData"):
                w.WriteNumber("stream", e.A);
                w.WriteNumber("bytes", e.B);
                w.WriteString("fnv64", e.C.ToString("x16", CultureInfo.InvariantCulture));
                break;
            default:
                // Units without fields (DmaUnmapAll, IrqRelease, SchedulerStep): index, kind and time say it all.
                break;
        }
    }

    private static void WriteStream(Utf8JsonWriter w, int? stream)
    {
        if (stream is { } s)
        {
            w.WriteNumber("stream", s);
        }
    }

    /// <summary>One JSON object per line through reused buffers: a dump of millions of records allocates per record only what the reader does.</summary>
    private sealed class JsonLineWriter(TextWriter output) : IDisposable
    {
        private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        private readonly ArrayBufferWriter<byte> _bytes = new(1024);
        private char[] _chars = new char[1024];
        private Utf8JsonWriter? _writer;

        public void Write(Action<Utf8JsonWriter> build)
        {
            _bytes.ResetWrittenCount();
            if (_writer is null)
            {
                _writer = new Utf8JsonWriter(_bytes, Options);
            }
            else
            {
                _writer.Reset(_bytes);
            }

            build(_writer);
            _writer.Flush();
            int needed = Encoding.UTF8.GetMaxCharCount(_bytes.WrittenCount);
            if (_chars.Length < needed)
            {
                _chars = new char[needed];
            }

            int n = Encoding.UTF8.GetChars(_bytes.WrittenSpan, _chars);
            output.Write(_chars, 0, n);
            output.WriteLine();
        }

        public void Dispose() => _writer?.Dispose();
    }
}
