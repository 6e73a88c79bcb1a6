using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Replay;

/// <summary>
/// The replaying end of a card's trace: while the replayer runs one recorded unit, the card's own trace records
/// arrive here and are compared, in order, with what the recording has for that unit; recorded DMA reads are
/// answered with the recorded bytes. The first difference throws <see cref="TraceDivergenceException"/>.
/// </summary>
internal sealed class ReplaySink(RecordSchema schema) : IFunctionObserver
{
    private TraceEvent? _unit;
    private IReadOnlyList<TraceEvent> _expected = [];
    private bool _unitSeen;
    private int _next;

    public bool SuppliesDma => true;

    /// <summary>Where the last difference was found (the recorded record, or the unit when the replay did too little).</summary>
    public TraceEvent? DivergedAt { get; private set; }

    /// <summary>What the replayed card did there, in words (null when it did nothing).</summary>
    public string? Replayed { get; private set; }

    private bool _closed;

    /// <summary>The replay is over: what the card does while it is taken down is not compared.</summary>
    public void Close() => _closed = true;

    public void BeginUnit(TraceEvent unit, IReadOnlyList<TraceEvent> nested)
    {
        _unit = unit;
        _expected = nested;
        _unitSeen = false;
        _next = 0;
    }

    /// <summary>After the unit ran: everything recorded in it must have happened.</summary>
    public void EndUnit()
    {
        var unit = _unit!;
        if (!_unitSeen)
        {
            Diverge(unit, (string?)null, "the recorded unit did something (a nested record or a queued job); the replayed card did nothing at this step");
        }

        if (_next < _expected.Count)
        {
            Diverge(_expected[_next], (string?)null, "the recording has this next; the replayed unit ended without it");
        }
    }

    public void Write(in TraceRecord record)
    {
        if (_closed)
        {
            return;
        }

        var unit = _unit ?? throw new InvalidOperationException("no unit is being replayed");
        if (!_unitSeen)
        {
            if (record.Kind != unit.Kind || !Same(record, unit))
            {
                Diverge(unit, record, "the replayed unit is not the recorded one");
            }

            _unitSeen = true;
            return;
        }

        var expected = Expect(record);
        if (!Same(record, expected))
        {
            Diverge(expected, record, "the device's output differs");
        }

        _next++;
    }

    public DmaResult SupplyDma(in TraceRecord attempt, Span<byte> readInto)
    {
        if (_closed)
        {
            return DmaResult.TransportError;
        }

        var expected = Expect(attempt);
        ulong length = attempt.Kind == TraceEventKind.DmaWrite ? (ulong)attempt.Data.Length : attempt.B;
        ulong recordedLength = expected.Kind == TraceEventKind.DmaWrite ? (ulong)expected.Data.Length : expected.B;
        if (attempt.A != expected.A || length != recordedLength)
        {
            Diverge(expected, attempt, "the device accessed other guest memory");
        }

        if (!Enum.IsDefined((DmaResult)expected.C))
        {
            throw new TraceFormatException($"record {expected.Index}: DMA result {expected.C} is not one this pcieemu knows");
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
                throw new TraceFormatException($"record {expected.Index}: DmaRead of {expected.B} B carries {expected.Data.Length} B of data");
            }

            expected.Data.CopyTo(readInto);
        }

        _next++;
        return result;
    }

    private TraceEvent Expect(in TraceRecord actual)
    {
        if (_next >= _expected.Count)
        {
            Diverge(_unit!, actual, "the replayed card did more in this unit than the recording has");
        }

        var expected = _expected[_next];
        if (expected.Kind != actual.Kind)
        {
            Diverge(expected, actual, "the device did something else");
        }

        return expected;
    }

    private bool Same(in TraceRecord actual, TraceEvent expected)
    {
        var fields = schema.FieldsOf(actual.Kind) ?? TraceFields.None;
        return ((fields & TraceFields.Time) == 0 || actual.Time == expected.Time)
            && ((fields & TraceFields.A) == 0 || actual.A == expected.A)
            && ((fields & TraceFields.B) == 0 || actual.B == expected.B)
            && ((fields & TraceFields.C) == 0 || actual.C == expected.C)
            && ((fields & TraceFields.Data) == 0 || actual.Data.SequenceEqual(expected.Data))
            && ((fields & TraceFields.Text) == 0 || actual.Text == expected.Text)
            && ((fields & TraceFields.Detail) == 0 || actual.Detail == expected.Detail);
    }

    private void Diverge(TraceEvent at, in TraceRecord actual, string why) => Diverge(at, TraceEventText.Describe(actual, schema), why);

    private void Diverge(TraceEvent at, string? replayed, string why)
    {
        DivergedAt = at;
        Replayed = replayed;
        throw new TraceDivergenceException(why);
    }
}
