namespace PcieEmu.Pci.Observation;

/// <summary>
/// One trace record as the function produces it; fields per kind in <see cref="TraceSchema"/> and
/// src/PcieEmu.Tracing/TRACE-FORMAT.md. A ref struct: recording copies nothing until the writer encodes it.
/// </summary>
public readonly ref struct TraceRecord
{
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

    public TraceEventKind Kind { get; }

    /// <summary>Device-clock nanoseconds (units only).</summary>
    public long Time { get; }

    public ulong A { get; }

    public ulong B { get; }

    public ulong C { get; }

    public ReadOnlySpan<byte> Data { get; }

    public string? Text { get; }

    public string? Detail { get; }
}
