using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Replay;

/// <summary>
/// The replaying end of a card's observation. It walks the trace as the card runs: <see cref="NextUnit"/> reads
/// the next recorded unit for the replayer to run, and while it runs, every record the card produces is compared
/// with the next recorded one, read on demand (recorded DMA reads are answered with the recorded bytes). Nothing
/// is copied per record: the reader's views are compared in place. The first difference throws
/// <see cref="TraceDivergenceException"/>; a trace cut inside a unit (with <c>allowTruncated</c>) stops the replay.
/// </summary>
internal sealed class ReplaySink(TraceReader reader, RecordSchema schema, bool allowTruncated) : IFunctionObserver
{
    private readonly RecordCopy _unit = new();
    private readonly RecordCopy _ahead = new();
    private byte[] _readBuffer = new byte[64];
    private bool _haveAhead;
    private bool _ended;
    private bool _unitSeen;
    private bool _closed;

    public bool SuppliesDma => true;

    /// <summary>The unit being replayed.</summary>
    public RecordCopy Unit => _unit;

    public long Units { get; private set; }

    /// <summary>Records the card reproduced (units included).</summary>
    public long Records { get; private set; }

    /// <summary>Recorded DMA payload fed to the card or compared with its writes.</summary>
    public long DmaBytes { get; private set; }

    /// <summary>How far through the file the replay is (0..1).</summary>
    public double Fraction => reader.Fraction;

    public long FirstTime { get; private set; } = -1;

    public long LastTime { get; private set; }

    /// <summary>Where the file was cut (with allowTruncated), or null.</summary>
    public string? Truncation { get; private set; }

    /// <summary>Where the last difference was found (the recorded record, or the unit when the replay did too little).</summary>
    public TraceEvent? DivergedAt { get; private set; }

    /// <summary>The unit that was being replayed when it diverged.</summary>
    public TraceEvent? DivergedUnit { get; private set; }

    /// <summary>What the replayed card did there, in words (null when it did nothing).</summary>
    public string? Replayed { get; private set; }

    /// <summary>
    /// A buffer for a read unit's bytes (what the card returns is compared through its ReadData record; the buffer
    /// itself is scratch, reused unit after unit). The length is one the replayer checked against the target.
    /// </summary>
    public Span<byte> ReadBuffer(int length)
    {
        if (_readBuffer.Length < length)
        {
            _readBuffer = new byte[length];
        }

        return _readBuffer.AsSpan(0, length);
    }

    /// <summary>The replay is over: what the card does while it is taken down is not compared.</summary>
    public void Close() => _closed = true;

    /// <summary>
    /// Reads the next unit into <see cref="Unit"/>. False at the end of the trace, or at a cut (with allowTruncated;
    /// <see cref="Truncation"/> says where).
    /// </summary>
    public bool NextUnit()
    {
        if (!Pull(out var r, insideUnit: false))
        {
            return false;
        }

        if (!r.IsUnit)
        {
            throw new TraceFormatException($"{reader.Name}: record {r.Index} ({schema.NameOf(r.Kind)}) belongs to a unit, but no unit precedes it");
        }

        _unit.CopyFrom(r);
        _unitSeen = false;
        FirstTime = FirstTime < 0 ? _unit.Time : FirstTime;
        LastTime = _unit.Time;
        return true;
    }

    /// <summary>
    /// The unit's first nested record, read ahead (the bytes a read of device memory returned, which a replay
    /// must put in place before the read): null when the unit has none.
    /// </summary>
    public RecordCopy? PeekNested()
    {
        if (!_haveAhead && Pull(out var r, insideUnit: true))
        {
            _ahead.CopyFrom(r);
            _haveAhead = true;
        }

        return _haveAhead && !_ahead.IsUnit ? _ahead : null;
    }

    /// <summary>After the unit ran: everything recorded in it must have happened.</summary>
    public void EndUnit()
    {
        if (!_unitSeen)
        {
            Diverge(_unit.View(), (string?)null, "the recorded unit did something (a nested record or a queued job); the replayed card did nothing at this step");
        }

        if (!_haveAhead && Pull(out var r, insideUnit: false))
        {
            _ahead.CopyFrom(r);
            _haveAhead = true;
        }

        if (_haveAhead && !_ahead.IsUnit)
        {
            Diverge(_ahead.View(), (string?)null, "the recording has this next; the replayed unit ended without it");
        }

        Units++;
    }

    public void Write(in TraceRecord record)
    {
        if (_closed)
        {
            return;
        }

        if (!_unitSeen)
        {
            var unit = _unit.View();
            if (record.Kind != unit.Kind || !Same(record, unit))
            {
                Diverge(unit, record, "the replayed unit is not the recorded one");
            }

            _unitSeen = true;
            Records++;
            return;
        }

        Expect(record, out var expected);
        if (!Same(record, expected))
        {
            Diverge(expected, record, "the device's output differs");
        }

        Records++;
    }

    public DmaResult SupplyDma(in TraceRecord attempt, Span<byte> readInto)
    {
        if (_closed)
        {
            return DmaResult.TransportError;
        }

        Expect(attempt, out var expected);
        ulong length = attempt.Kind == TraceEventKind.DmaWrite ? (ulong)attempt.Data.Length : attempt.B;
        ulong recordedLength = expected.Kind == TraceEventKind.DmaWrite ? (ulong)expected.Data.Length : expected.B;
        if (attempt.A != expected.A || length != recordedLength)
        {
            Diverge(expected, attempt, "the device accessed other guest memory");
        }

        if (!Enum.IsDefined((DmaResult)expected.C))
        {
            throw new ObservationStoppedException("corrupt trace", new TraceFormatException($"{reader.Name}: record {expected.Index}: DMA result {expected.C} is not one this pcieemu knows"));
        }

        var result = (DmaResult)expected.C;
        if (attempt.Kind == TraceEventKind.DmaWrite)
        {
            if (!attempt.Data.SequenceEqual(expected.Data))
            {
                Diverge(expected, attempt, "the device wrote other bytes into guest memory");
            }
        }
        else if (result == DmaResult.Ok)
        {
            if (expected.Data.Length != readInto.Length)
            {
                throw new ObservationStoppedException("corrupt trace", new TraceFormatException($"{reader.Name}: record {expected.Index}: DmaRead of {expected.B} B carries {expected.Data.Length} B of data"));
            }

            expected.Data.CopyTo(readInto);
        }

        Records++;
        DmaBytes += expected.Data.Length;
        return result;
    }

    /// <summary>The next recorded record inside the unit, which must be of the kind the card produced.</summary>
    private void Expect(in TraceRecord actual, out RecordView expected)
    {
        if (!Pull(out expected, insideUnit: true) || expected.IsUnit)
        {
            if (expected.IsUnit)
            {
                _ahead.CopyFrom(expected);
                _haveAhead = true;
            }

            Diverge(_unit.View(), actual, "the replayed card did more in this unit than the recording has");
        }

        if (expected.Kind != actual.Kind)
        {
            Diverge(expected, actual, "the device did something else");
        }
    }

    /// <summary>The next record: the one read ahead, or the reader's. Counts records and DMA payload.</summary>
    private bool Pull(out RecordView record, bool insideUnit)
    {
        if (_haveAhead)
        {
            _haveAhead = false;
            record = _ahead.View();
            return true;
        }

        record = default;
        if (_ended)
        {
            return false;
        }

        try
        {
            if (!reader.TryReadView(out record))
            {
                _ended = true;
                return false;
            }
        }
        catch (TraceFormatException e) when (e.Truncated && allowTruncated)
        {
            Truncation = e.Message;
            _ended = true;
            if (insideUnit)
            {
                // The cut went through this unit: it is not replayed to its end, and nothing after it is.
                throw new ObservationStoppedException("truncated", e);
            }

            return false;
        }
        catch (TraceFormatException e) when (insideUnit)
        {
            // Out through the device's own error handling, to the replayer.
            throw new ObservationStoppedException("unreadable trace", e);
        }

        return true;
    }

    private bool Same(in TraceRecord actual, in RecordView expected)
    {
        var fields = schema.FieldsOf(actual.Kind) ?? TraceFields.None;
        return ((fields & TraceFields.Time) == 0 || actual.Time == expected.Time)
            && ((fields & TraceFields.A) == 0 || actual.A == expected.A)
            && ((fields & TraceFields.B) == 0 || actual.B == expected.B)
            && ((fields & TraceFields.C) == 0 || actual.C == expected.C)
            && ((fields & TraceFields.Data) == 0 || actual.Data.SequenceEqual(expected.Data))
            && ((fields & TraceFields.Text) == 0 || expected.TextIs(actual.Text))
            && ((fields & TraceFields.Detail) == 0 || expected.DetailIs(actual.Detail));
    }

    private void Diverge(in RecordView at, in TraceRecord actual, string why) => Diverge(at, TraceEventText.Describe(actual, schema), why);

    private void Diverge(in RecordView at, string? replayed, string why)
    {
        DivergedAt = at.ToEvent();
        DivergedUnit = _unit.View().ToEvent();
        Replayed = replayed;
        throw new TraceDivergenceException(why);
    }
}
