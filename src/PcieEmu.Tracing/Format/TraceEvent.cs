using PcieEmu.Pci.Observation;

namespace PcieEmu.Tracing.Format;

/// <summary>One decoded trace record (fields per kind: <see cref="TraceSchema"/>).</summary>
public sealed class TraceEvent
{
    /// <summary>Position in the trace, from 0.</summary>
    public long Index { get; init; }

    public TraceEventKind Kind { get; init; }

    /// <summary>Device-clock nanoseconds of the unit this record is (or belongs to).</summary>
    public long Time { get; init; }

    public ulong A { get; init; }

    public ulong B { get; init; }

    public ulong C { get; init; }

    public byte[] Data { get; init; } = [];

    public string? Text { get; init; }

    public string? Detail { get; init; }

    public bool IsUnit => TraceSchema.IsUnit(Kind);

    public TraceRecord ToRecord() => new(Kind, IsUnit ? Time : 0, A, B, C, Data, Text, Detail);
}
