using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Tools;

/// <summary>Interrupts signalled on one vector of one mechanism.</summary>
public sealed record InterruptFigures(IrqIndex Index, ulong Vector, long Count, double? PerSecond);

/// <summary>Bus accesses to one BAR (units, whatever their size).</summary>
public sealed record BarFigures(int Bar, long Reads, long Writes);

/// <summary>One audio stream: accesses to its SD block, interrupts on its vector, samples handed to its sink.</summary>
/// <param name="DmaBytes">Bytes the engine moved by DMA for the stream (after its StreamWork records).</param>
public sealed record StreamFigures(int Stream, string Name, long MmioReads, long MmioWrites, long Interrupts, long SinkRecords, long SinkBytes, long DmaBytes);

/// <summary>
/// What a trace contains, from one streaming pass (<see cref="Compute(string)"/>). Times are the device clock; the
/// duration runs from the first unit to the last, and rates are over it (null when it is zero). MB is 10^6 bytes.
/// DMA bytes count successful transfers only; failed ones are counted by result.
/// </summary>
public sealed class TraceStatistics
{
    public required TraceHeader Header { get; init; }

    public long FileBytes { get; init; }

    /// <summary>Records before the End record.</summary>
    public long Records { get; init; }

    public double BytesPerRecord => Records == 0 ? 0 : (double)FileBytes / Records;

    public required IReadOnlyDictionary<string, long> RecordsByKind { get; init; }

    public long Units { get; init; }

    public long FirstUnitTime { get; init; }

    public long LastUnitTime { get; init; }

    public long DurationNanoseconds => LastUnitTime - FirstUnitTime;

    public double DurationSeconds => DurationNanoseconds / 1e9;

    public long DmaReads { get; init; }

    public long DmaWrites { get; init; }

    public long DmaBytesRead { get; init; }

    public long DmaBytesWritten { get; init; }

    public required IReadOnlyDictionary<DmaResult, long> FailedDmaByResult { get; init; }

    public double? DmaReadMBps => MegabytesPerSecond(DmaBytesRead);

    public double? DmaWriteMBps => MegabytesPerSecond(DmaBytesWritten);

    public double? DmaMBps => MegabytesPerSecond(DmaBytesRead + DmaBytesWritten);

    public required IReadOnlyList<InterruptFigures> Interrupts { get; init; }

    public long InterruptCount => Interrupts.Sum(i => i.Count);

    public required IReadOnlyList<BarFigures> Bars { get; init; }

    /// <summary>Streams that were touched, by index: SinkData names its stream; MMIO and vectors are attributed for the audio card only.</summary>
    public required IReadOnlyList<StreamFigures> Streams { get; init; }

    public required IReadOnlyDictionary<string, long> ViolationsByRule { get; init; }

    public static TraceStatistics Compute(string path)
    {
        using var reader = TraceReader.Open(path);
        return Compute(reader, new FileInfo(path).Length);
    }

    /// <summary>Reads <paramref name="reader"/> to its End record.</summary>
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
