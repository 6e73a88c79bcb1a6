using System.Buffers.Binary;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using PcieEmu.Pci;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Tools;

/// <summary>
/// `trace export --format chrome`: the trace as Chrome trace-event JSON (object format) for ui.perfetto.dev or
/// chrome://tracing. One process is the card; each row (config, MMIO per BAR or per stream, DMA per stream,
/// interrupts per vector, engine steps, violations) is a named thread. Timestamps are the device clock in µs.
/// <para>
/// Units happen at one device-clock instant, so they are complete events of duration 0; interrupts, sink
/// deliveries and violations are instant events. A DMA belongs to a stream when its unit was an access to that
/// stream's SD block (the descriptor list read at RUN), or when it follows the stream's StreamWork record (the
/// engine moving that stream's frames). Every other DMA goes to "DMA other".
/// </para>
/// </summary>
public static class ChromeTraceExport
{
    /// <summary>Writes the whole trace to <paramref name="output"/>; returns the number of events (metadata excluded).</summary>
    public static long Write(TraceReader reader, Stream output)
    {
        using var exporter = new Exporter(reader.Header, reader.Schema, output);
        while (reader.TryRead(out var e))
        {
            exporter.Add(e);
        }

        return exporter.Complete();
    }

    private sealed class Exporter : IDisposable
    {
        public const int ProcessId = 1;

        /// <summary>Utf8JsonWriter keeps everything until flushed; flushing at this size keeps memory flat.</summary>
        private const int FlushBytes = 64 << 10;

        private readonly Utf8JsonWriter _w;
        private readonly AudioStreamMap? _streams;
        private readonly Dictionary<ChromeTrack, int> _threads = [];
        private readonly List<TraceEvent> _pendingReads = [];
        private TraceEvent? _unit;
        private byte[]? _readData;
        private int? _unitStream;
        private int? _workStream;
        private long _events;

        private RecordSchema Schema { get; }

        public Exporter(TraceHeader header, RecordSchema schema, Stream output)
        {
            Schema = schema;
            _streams = AudioStreamMap.For(header);
            _w = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            _w.WriteStartObject();
            _w.WriteString("displayTimeUnit", "ns");
            _w.WriteStartObject("otherData");
            _w.WriteString("card", header.Card);
            _w.WriteString("model", header.ModelName);
            _w.WriteString("model_sha256", header.ModelSha256);
            _w.WriteString("recorded_at", header.RecordedAt.ToString("O", CultureInfo.InvariantCulture));
            _w.WriteString("recorder", header.Recorder);
            _w.WriteEndObject();
            _w.WriteStartArray("traceEvents");
            Metadata("process_name", 0, "name", $"{header.Card} ({header.ModelName})");
        }

        public void Add(TraceEvent e)
        {
            if (e.IsUnit)
            {
                EndUnit();
                _unit = e;
                _unitStream = e.Kind is TraceEventKind.BarRead or TraceEventKind.BarWrite ? _streams?.StreamOfMmio(e.A, e.B) : null;
                _workStream = null;
                return;
            }

            switch (e.Kind)
            {
                case TraceEventKind.ReadData:
                    _readData = e.Data;
                    break;
                case TraceEventKind.DmaRead or TraceEventKind.DmaWrite:
                    AddDma(e);
                    break;
                case TraceEventKind.Work:
                    _workStream = (int)Math.Min(e.A, int.MaxValue);
                    break;
                case var sinkKind when Schema.Is(sinkKind, "SinkData"):
                    int stream = (int)Math.Min(e.A, int.MaxValue);
                    ClaimPendingReads(ChromeTrack.StreamDma(stream));
                    Begin('i', ChromeTrack.StreamDma(stream), "sink", e.Time);
                    _w.WriteNumber("bytes", e.B);
                    _w.WriteString("fnv64", e.C.ToString("x16", CultureInfo.InvariantCulture));
                    End();
                    break;
                case TraceEventKind.Interrupt:
                    Begin('i', ChromeTrack.Irq(e.A, e.B), $"{TraceValueNames.Of<IrqIndex>(e.A)} vector {e.B}", e.Time);
                    if (_streams?.StreamOfVector(e.A, e.B) is { } s)
                    {
                        _w.WriteNumber("stream", s);
                    }

                    End();
                    break;
                case var violationKind when Schema.Is(violationKind, "Violation"):
                    Begin('i', ChromeTrack.Violations, e.Text ?? "violation", e.Time);
                    _w.WriteString("detail", e.Detail);
                    End();
                    break;
                default:
                    break;
            }
        }

        public long Complete()
        {
            EndUnit();
            _w.WriteEndArray();
            _w.WriteEndObject();
            _w.Flush();
            return _events;
        }

        public void Dispose() => _w.Dispose();

        private void AddDma(TraceEvent e)
        {
            if ((_unitStream ?? _workStream) is { } s)
            {
                Dma(e, ChromeTrack.StreamDma(s));
            }
            else if (e.Kind == TraceEventKind.DmaRead && e.C == (ulong)DmaResult.Ok)
            {
                _pendingReads.Add(e);
            }
            else
            {
                // A failed read ends the reading stream's turn: what it read before cannot belong to a later SinkData.
                ClaimPendingReads(ChromeTrack.OtherDma);
                Dma(e, ChromeTrack.OtherDma);
            }
        }

        private void ClaimPendingReads(ChromeTrack track)
        {
            foreach (var read in _pendingReads)
            {
                Dma(read, track);
            }

            _pendingReads.Clear();
        }

        private void Dma(TraceEvent e, ChromeTrack track)
        {
            Begin('X', track, e.Kind.ToString(), e.Time);
            _w.WriteString("address", TraceValueNames.Hex(e.A));
            _w.WriteNumber("length", e.Kind == TraceEventKind.DmaRead ? e.B : (ulong)e.Data.Length);
            _w.WriteString("result", TraceValueNames.Of<DmaResult>(e.C));
            End();
        }

        /// <summary>Writes the finished unit: only now is its ReadData known.</summary>
        private void EndUnit()
        {
            ClaimPendingReads(ChromeTrack.OtherDma);
            if (_unit is not { } u)
            {
                return;
            }

            switch (u.Kind)
            {
                case TraceEventKind.ConfigRead or TraceEventKind.ConfigWrite or TraceEventKind.RomRead:
                    Begin('X', ChromeTrack.Config, u.Kind.ToString(), u.Time);
                    _w.WriteString("offset", TraceValueNames.Hex(u.A));
                    Access(u.Kind == TraceEventKind.ConfigWrite ? u.Data : _readData, u.Kind == TraceEventKind.ConfigWrite ? (ulong)u.Data.Length : u.B);
                    break;
                case TraceEventKind.BarRead or TraceEventKind.BarWrite:
                    bool write = u.Kind == TraceEventKind.BarWrite;
                    var track = _unitStream is { } s ? ChromeTrack.StreamMmio(s) : ChromeTrack.Mmio(u.A);
                    string register = _streams?.RegisterName(u.A, u.B) ?? TraceValueNames.Hex(u.B);
                    Begin('X', track, $"{(write ? "write" : "read")} {register}", u.Time);
                    _w.WriteNumber("bar", u.A);
                    _w.WriteString("offset", TraceValueNames.Hex(u.B));
                    Access(write ? u.Data : _readData, write ? (ulong)u.Data.Length : u.C);
                    break;
                case TraceEventKind.Reset:
                    Begin('X', ChromeTrack.Config, $"Reset {TraceValueNames.Of<ResetKind>(u.A)}", u.Time);
                    break;
                case TraceEventKind.DmaMap or TraceEventKind.DmaUnmap or TraceEventKind.DmaUnmapAll:
                    Begin('X', ChromeTrack.DmaMap, u.Kind.ToString(), u.Time);
                    if (u.Kind != TraceEventKind.DmaUnmapAll)
                    {
                        _w.WriteString("address", TraceValueNames.Hex(u.A));
                        _w.WriteString("size", TraceValueNames.Hex(u.B));
                    }

                    if (u.Kind == TraceEventKind.DmaMap)
                    {
                        _w.WriteString("access", TraceValueNames.Of<DmaAccess>(u.C & (ulong)DmaAccess.ReadWrite));
                        _w.WriteString("backing", (u.C & DmaController.LocalBackingFlag) != 0 ? "shared" : "message");
                    }

                    break;
                case TraceEventKind.SchedulerStep:
                    Begin('X', ChromeTrack.Engine, "step", u.Time);
                    break;
                default:
                    // Interrupt set-up by the client: rare, and its text line says everything.
                    Begin('X', ChromeTrack.IrqSetup, u.Kind.ToString(), u.Time);
                    _w.WriteString("what", TraceEventText.Describe(u.ToRecord(), Schema));
                    break;
            }

            End();
            _unit = null;
            _readData = null;
            _unitStream = null;
        }

        /// <summary>Length and the value moved: a 1/2/4/8-byte access as the little-endian number it is, else bytes.</summary>
        private void Access(byte[]? data, ulong length)
        {
            _w.WriteNumber("length", length);
            if (data is null)
            {
                return;
            }

            string value = data.Length switch
            {
                1 => $"0x{data[0]:x2}",
                2 => $"0x{BinaryPrimitives.ReadUInt16LittleEndian(data):x4}",
                4 => $"0x{BinaryPrimitives.ReadUInt32LittleEndian(data):x8}",
                8 => $"0x{BinaryPrimitives.ReadUInt64LittleEndian(data):x16}",
                _ => TraceEventText.Hex(data),
            };
            _w.WriteString("value", value);
        }

        /// <summary>Starts an event and its args object; <see cref="End"/> closes both.</summary>
        private void Begin(char phase, ChromeTrack track, string name, long timeNs)
        {
            int tid = Thread(track);
            _w.WriteStartObject();
            _w.WriteString("name", name);
            _w.WriteString("ph", phase == 'X' ? "X" : "i");
            _w.WriteNumber("pid", ProcessId);
            _w.WriteNumber("tid", tid);
            _w.WriteNumber("ts", timeNs / 1000.0);
            if (phase == 'X')
            {
                _w.WriteNumber("dur", 0);
            }
            else
            {
                _w.WriteString("s", "t");
            }

            _w.WriteStartObject("args");
        }

        private void End()
        {
            _w.WriteEndObject();
            _w.WriteEndObject();
            _events++;
            if (_w.BytesPending >= FlushBytes)
            {
                _w.Flush();
            }
        }

        /// <summary>The thread id of <paramref name="track"/>, naming it (metadata events) the first time it is used.</summary>
        private int Thread(ChromeTrack track)
        {
            if (_threads.TryGetValue(track, out int tid))
            {
                return tid;
            }

            tid = _threads.Count + 1;
            _threads.Add(track, tid);
            Metadata("thread_name", tid, "name", track.Name(_streams));
            Metadata("thread_sort_index", tid, "sort_index", track.SortIndex);
            return tid;
        }

        private void Metadata(string name, int tid, string arg, string value)
        {
            StartMetadata(name, tid);
            _w.WriteString(arg, value);
            EndMetadata();
        }

        private void Metadata(string name, int tid, string arg, int value)
        {
            StartMetadata(name, tid);
            _w.WriteNumber(arg, value);
            EndMetadata();
        }

        private void StartMetadata(string name, int tid)
        {
            _w.WriteStartObject();
            _w.WriteString("name", name);
            _w.WriteString("ph", "M");
            _w.WriteNumber("pid", ProcessId);
            _w.WriteNumber("tid", tid);
            _w.WriteStartObject("args");
        }

        private void EndMetadata()
        {
            _w.WriteEndObject();
            _w.WriteEndObject();
        }
    }
}
