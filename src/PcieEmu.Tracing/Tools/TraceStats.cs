using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Tools;

/// <summary>Interrupts signalled on one vector of one mechanism.</summary>
/// <param name="Index">The mechanism (INTx, MSI, MSI-X, …).</param>
/// <param name="Vector">The vector within it.</param>
/// <param name="Count">Interrupt records for the vector.</param>
/// <param name="PerSecond">Count over the trace's duration on the device clock; null when the duration is zero.</param>
public sealed record InterruptFigures(IrqIndex Index, ulong Vector, long Count, double? PerSecond);

/// <summary>Bus accesses to one BAR (units, whatever their size).</summary>
/// <param name="Bar">The BAR number, 0..5.</param>
/// <param name="Reads">BarRead units.</param>
/// <param name="Writes">BarWrite units.</param>
public sealed record BarFigures(int Bar, long Reads, long Writes);

/// <summary>One audio stream: accesses to its SD block, interrupts on its vector, samples handed to its sink.</summary>
/// <param name="Stream">The stream's index in card order (playback first, then capture).</param>
/// <param name="Name">The stream's name in the model; empty when the model could not be read.</param>
/// <param name="MmioReads">Reads of the stream's SD block registers (audio card only).</param>
/// <param name="MmioWrites">Writes to them.</param>
/// <param name="Interrupts">Interrupts on the stream's MSI/MSI-X vector (audio card only).</param>
/// <param name="SinkRecords">SinkData records: sample blocks handed to the stream's host sink.</param>
/// <param name="SinkBytes">Bytes in those blocks.</param>
/// <param name="DmaBytes">Bytes the engine moved by DMA for the stream (after its StreamWork records).</param>
public sealed record StreamFigures(int Stream, string Name, long MmioReads, long MmioWrites, long Interrupts, long SinkRecords, long SinkBytes, long DmaBytes);

/// <summary>
/// What a trace contains, from one streaming pass (<see cref="Compute(string)"/>). Times are the device clock; the
/// duration runs from the first unit to the last, and rates are over it (null when it is zero). MB is 10^6 bytes.
/// DMA bytes count successful transfers only; failed ones are counted by result.
/// </summary>
public sealed class TraceStatistics
{
    /// <summary>The trace's header.</summary>
    public required TraceHeader Header { get; init; }

    /// <summary>The file's size in bytes, as given to <see cref="Compute(TraceReader, long)"/>.</summary>
    public long FileBytes { get; init; }

    /// <summary>Records before the End record.</summary>
    public long Records { get; init; }

    /// <summary>File bytes per record, header included (0 for a trace without records).</summary>
    public double BytesPerRecord => Records == 0 ? 0 : (double)FileBytes / Records;

    /// <summary>Records per kind, by the kind's name (device kinds by the names the header declares); kinds absent from the trace are left out.</summary>
    public required IReadOnlyDictionary<string, long> RecordsByKind { get; init; }

    /// <summary>Unit records: bus accesses, client actions and scheduler steps.</summary>
    public long Units { get; init; }

    /// <summary>Device-clock time of the first unit, in nanoseconds (0 without units).</summary>
    public long FirstUnitTime { get; init; }

    /// <summary>Device-clock time of the last unit, in nanoseconds.</summary>
    public long LastUnitTime { get; init; }

    /// <summary>Device time from the first unit to the last, in nanoseconds.</summary>
    public long DurationNanoseconds => LastUnitTime - FirstUnitTime;

    /// <summary><see cref="DurationNanoseconds"/> in seconds.</summary>
    public double DurationSeconds => DurationNanoseconds / 1e9;

    /// <summary>Successful device reads of guest memory.</summary>
    public long DmaReads { get; init; }

    /// <summary>Successful device writes to guest memory.</summary>
    public long DmaWrites { get; init; }

    /// <summary>Bytes the successful reads moved.</summary>
    public long DmaBytesRead { get; init; }

    /// <summary>Bytes the successful writes moved.</summary>
    public long DmaBytesWritten { get; init; }

    /// <summary>Failed DMA transfers (reads and writes) by result; empty when none failed.</summary>
    public required IReadOnlyDictionary<DmaResult, long> FailedDmaByResult { get; init; }

    /// <summary>DMA read throughput over the duration, in MB/s; null when the duration is zero.</summary>
    public double? DmaReadMBps => MegabytesPerSecond(DmaBytesRead);

    /// <summary>DMA write throughput over the duration, in MB/s; null when the duration is zero.</summary>
    public double? DmaWriteMBps => MegabytesPerSecond(DmaBytesWritten);

    /// <summary>Reads and writes together, in MB/s; null when the duration is zero.</summary>
    public double? DmaMBps => MegabytesPerSecond(DmaBytesRead + DmaBytesWritten);

    /// <summary>Every vector that signalled, by mechanism then vector.</summary>
    public required IReadOnlyList<InterruptFigures> Interrupts { get; init; }

    /// <summary>All interrupts signalled.</summary>
    public long InterruptCount => Interrupts.Sum(i => i.Count);

    /// <summary>Every BAR that was accessed, by number.</summary>
    public required IReadOnlyList<BarFigures> Bars { get; init; }

    /// <summary>Streams that were touched, by index: SinkData names its stream; MMIO and vectors are attributed for the audio card only.</summary>
    public required IReadOnlyList<StreamFigures> Streams { get; init; }

    /// <summary>Violation records by rule name, ordinal order; empty when the driver broke no rule.</summary>
    public required IReadOnlyDictionary<string, long> ViolationsByRule { get; init; }

    /// <summary>Reads the trace at <paramref name="path"/> to its End record; <see cref="TraceFormatException"/> on a damaged file.</summary>
    public static TraceStatistics Compute(string path)
    {
        using var reader = TraceReader.Open(path);
        return Compute(reader, new FileInfo(path).Length);
    }

    /// <summary>
    /// Reads <paramref name="reader"/> from where it stands to its End record; <paramref name="fileBytes"/> is only
    /// reported (<see cref="FileBytes"/>). <see cref="TraceFormatException"/> on a damaged file.
    /// </summary>
    public static TraceStatistics Compute(TraceReader reader, long fileBytes)
    {
        var tally = new TraceTally(AudioStreamMap.For(reader.Header), reader.Schema);
        while (reader.TryRead(out var e))
        {
            tally.Add(e);
        }

        return tally.ToStatistics(reader.Header, fileBytes);
    }

    /// <summary>Per second over <paramref name="nanoseconds"/>; scaled before dividing so round figures stay exact.</summary>
    internal static double? PerSecond(long count, long nanoseconds) => nanoseconds > 0 ? count * 1e9 / nanoseconds : null;

    private double? MegabytesPerSecond(long bytes) => DurationNanoseconds > 0 ? bytes * 1e3 / DurationNanoseconds : null;
}

/// <summary>The counters of one pass: fixed arrays and small dictionaries keyed by what the trace names.</summary>
internal sealed class TraceTally(AudioStreamMap? streams, RecordSchema schema)
{
    private readonly long[] _byKind = new long[256];
    private readonly Dictionary<DmaResult, long> _failedDma = [];
    private readonly Dictionary<(ulong Index, ulong Vector), long> _interrupts = [];
    private readonly SortedDictionary<ulong, (long Reads, long Writes)> _bars = [];
    private readonly SortedDictionary<int, StreamTally> _streams = [];
    private readonly SortedDictionary<string, long> _violations = new(StringComparer.Ordinal);
    private long _records, _units, _first, _last, _dmaReads, _dmaWrites, _bytesRead, _bytesWritten;
    private int? _workStream;

    public void Add(TraceEvent e)
    {
        _records++;
        _byKind[(byte)e.Kind]++;
        if (e.IsUnit)
        {
            if (_units == 0)
            {
                _first = e.Time;
            }

            _last = e.Time;
            _units++;
            _workStream = null;
        }

        switch (e.Kind)
        {
            case TraceEventKind.BarRead or TraceEventKind.BarWrite:
                AddMmio(e.A, e.B, e.Kind == TraceEventKind.BarWrite);
                break;
            case TraceEventKind.DmaRead or TraceEventKind.DmaWrite:
                AddDma(e);
                break;
            case TraceEventKind.Interrupt:
                _interrupts[(e.A, e.B)] = _interrupts.GetValueOrDefault((e.A, e.B)) + 1;
                if (streams?.StreamOfVector(e.A, e.B) is { } s)
                {
                    Stream(s).Interrupts++;
                }

                break;
            case var violationKind when schema.Is(violationKind, "Violation"):
                _violations[e.Text ?? ""] = _violations.GetValueOrDefault(e.Text ?? "") + 1;
                break;
            case TraceEventKind.Work:
                _workStream = (int)Math.Min(e.A, int.MaxValue);
                break;
            case var sinkKind when schema.Is(sinkKind, "SinkData"):
                var sink = Stream((int)Math.Min(e.A, int.MaxValue));
                sink.SinkRecords++;
                sink.SinkBytes += (long)e.B;
                break;
            default:
                break;
        }
    }

    public TraceStatistics ToStatistics(TraceHeader header, long fileBytes)
    {
        long duration = _last - _first;
        return new TraceStatistics
        {
            Header = header,
            FileBytes = fileBytes,
            Records = _records,
            RecordsByKind = Enumerable.Range(0, _byKind.Length).Where(k => _byKind[k] > 0).ToDictionary(k => schema.NameOf((TraceEventKind)k), k => _byKind[k], StringComparer.Ordinal),
            Units = _units,
            FirstUnitTime = _first,
            LastUnitTime = _last,
            DmaReads = _dmaReads,
            DmaWrites = _dmaWrites,
            DmaBytesRead = _bytesRead,
            DmaBytesWritten = _bytesWritten,
            FailedDmaByResult = _failedDma.OrderBy(f => f.Key).ToDictionary(),
            Interrupts =
            [
                .. _interrupts.OrderBy(i => i.Key)
                    .Select(i => new InterruptFigures((IrqIndex)i.Key.Index, i.Key.Vector, i.Value, TraceStatistics.PerSecond(i.Value, duration))),
            ],
            Bars = [.. _bars.Select(b => new BarFigures((int)b.Key, b.Value.Reads, b.Value.Writes))],
            Streams =
            [
                .. _streams.Select(s => new StreamFigures(s.Key, streams is not null && s.Key < streams.Count ? streams.Names[s.Key] : "",
                    s.Value.MmioReads, s.Value.MmioWrites, s.Value.Interrupts, s.Value.SinkRecords, s.Value.SinkBytes, s.Value.DmaBytes)),
            ],
            ViolationsByRule = new Dictionary<string, long>(_violations, StringComparer.Ordinal),
        };
    }

    private void AddMmio(ulong bar, ulong offset, bool write)
    {
        var (reads, writes) = _bars.GetValueOrDefault(bar);
        _bars[bar] = write ? (reads, writes + 1) : (reads + 1, writes);
        if (streams?.StreamOfMmio(bar, offset) is { } s)
        {
            var t = Stream(s);
            if (write)
            {
                t.MmioWrites++;
            }
            else
            {
                t.MmioReads++;
            }
        }
    }

    private void AddDma(TraceEvent e)
    {
        var result = (DmaResult)e.C;
        if (result != DmaResult.Ok)
        {
            _failedDma[result] = _failedDma.GetValueOrDefault(result) + 1;
        }
        else if (e.Kind == TraceEventKind.DmaRead)
        {
            _dmaReads++;
            _bytesRead += (long)e.B;
            if (_workStream is { } s)
            {
                Stream(s).DmaBytes += (long)e.B;
            }
        }
        else
        {
            _dmaWrites++;
            _bytesWritten += e.Data.Length;
            if (_workStream is { } s)
            {
                Stream(s).DmaBytes += e.Data.Length;
            }
        }
    }

    private StreamTally Stream(int index)
    {
        if (!_streams.TryGetValue(index, out var t))
        {
            t = new StreamTally();
            _streams.Add(index, t);
        }

        return t;
    }

    private sealed class StreamTally
    {
        public long MmioReads, MmioWrites, Interrupts, SinkRecords, SinkBytes, DmaBytes;
    }
}
