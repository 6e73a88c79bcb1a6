namespace PcieEmu.Pci.Observation;

/// <summary>
/// One trace record as the function produces it; fields per kind in <see cref="TraceSchema"/> and
/// src/PcieEmu.Tracing/TRACE-FORMAT.md. A ref struct: recording copies nothing until the writer encodes it.
/// </summary>
public readonly ref struct TraceRecord
{
    /// <summary>A record; leave fields its kind does not carry at their defaults (<see cref="TraceSchema.FieldsOf"/>).</summary>
    /// <param name="kind">What the record is.</param>
    /// <param name="time">Device-clock nanoseconds (units only).</param>
    /// <param name="a">Field A.</param>
    /// <param name="b">Field B.</param>
    /// <param name="c">Field C.</param>
    /// <param name="data">Field Data; not copied.</param>
    /// <param name="text">Field Text.</param>
    /// <param name="detail">Field Detail.</param>
    public TraceRecord(TraceEventKind kind, long time = 0, ulong a = 0, ulong b = 0, ulong c = 0, ReadOnlySpan<byte> data = default,
        string? text = null, string? detail = null)
    {
        Kind = kind;
        Time = time;
        A = a;
        B = b;
        C = c;
        Data = data;
        Text = text;
        Detail = detail;
    }

    /// <summary>What the record is; it decides which fields mean something.</summary>
    public TraceEventKind Kind { get; }

    /// <summary>Device-clock nanoseconds (units only).</summary>
    public long Time { get; }

    /// <summary>First number; its meaning depends on <see cref="Kind"/> (an offset, a BAR, an IOVA, a stream).</summary>
    public ulong A { get; }

    /// <summary>Second number, by <see cref="Kind"/>.</summary>
    public ulong B { get; }

    /// <summary>Third number, by <see cref="Kind"/>.</summary>
    public ulong C { get; }

    /// <summary>Bytes (written, read or transferred); only valid while the record is.</summary>
    public ReadOnlySpan<byte> Data { get; }

    /// <summary>A short string (a device kind's name-like field, e.g. a rule name).</summary>
    public string? Text { get; }

    /// <summary>A longer string (e.g. a violation as JSON).</summary>
    public string? Detail { get; }
}
