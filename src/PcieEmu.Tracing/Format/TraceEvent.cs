using PcieEmu.Pci.Observation;

namespace PcieEmu.Tracing.Format;

/// <summary>
/// One decoded trace record. What <see cref="A"/>, <see cref="B"/>, <see cref="C"/>, <see cref="Data"/>,
/// <see cref="Text"/> and <see cref="Detail"/> mean depends on <see cref="Kind"/> (the table in TRACE-FORMAT.md
/// "Records"; <see cref="TraceSchema"/> for the framework's kinds, <see cref="RecordSchema"/> for a trace's device
/// kinds); a field the kind does not carry is 0, empty or null.
/// </summary>
public sealed class TraceEvent
{
    /// <summary>Position in the trace, from 0.</summary>
    public long Index { get; init; }

    /// <summary>The record kind: a unit (a bus access, a client action, a scheduler step), an output or input of one, or End.</summary>
    public TraceEventKind Kind { get; init; }

    /// <summary>Device-clock nanoseconds of the unit this record is (or belongs to).</summary>
    public long Time { get; init; }

    /// <summary>First number field: an offset, BAR, address or IRQ index, per kind.</summary>
    public ulong A { get; init; }

    /// <summary>Second number field: an offset, length, size or vector, per kind.</summary>
    public ulong B { get; init; }

    /// <summary>Third number field: a length, access flags or DMA result, per kind.</summary>
    public ulong C { get; init; }

    /// <summary>Bytes read or written (config, BAR, DMA data; IRQ assignment flags); empty when the kind has none.</summary>
    public byte[] Data { get; init; } = [];

    /// <summary>A device kind's text field (a violation's rule); null when absent.</summary>
    public string? Text { get; init; }

    /// <summary>A device kind's detail field (a violation's explanation); null when absent.</summary>
    public string? Detail { get; init; }

    /// <summary>Whether this record is a unit: something done to the card at one device-clock instant (<see cref="Time"/>); the records after it up to the next unit are its effects.</summary>
    public bool IsUnit => TraceSchema.IsUnit(Kind);

    /// <summary>The record in the form a <see cref="TraceWriter"/> takes (time kept for units only), e.g. to copy or filter a trace.</summary>
    public TraceRecord ToRecord() => new(Kind, IsUnit ? Time : 0, A, B, C, Data, Text, Detail);
}
