using System.Globalization;
using System.Text;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Replay;

/// <summary>How a replay ended: identical to the recording, or the first divergence with its surroundings.</summary>
public sealed record ReplayResult
{
    /// <summary>The trace replayed, as given to <see cref="TraceReplayer.Replay(string, ReplayOptions, Microsoft.Extensions.Logging.ILoggerFactory)"/>.</summary>
    public required string TracePath { get; init; }

    /// <summary>The model (or device) the card was rebuilt from.</summary>
    public required string ModelName { get; init; }

    /// <summary>Units replayed (up to the divergence, if any).</summary>
    public long Units { get; init; }

    /// <summary>Records read and checked (up to the divergence, if any).</summary>
    public long Records { get; init; }

    /// <summary>DMA payload fed to the device (recorded reads) and compared (its writes), in bytes.</summary>
    public long DmaBytes { get; init; }

    /// <summary>Device time the trace spans (first to last unit).</summary>
    public long VirtualNanoseconds { get; init; }

    /// <summary>Wall time of the replay loop (the card's construction excluded).</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>The first difference between the replay and the recording; null when they are identical.</summary>
    public ReplayDivergence? Divergence { get; init; }

    /// <summary>With <see cref="ReplayOptions.AllowTruncated"/>: where the file stopped (its last, possibly partial, unit was not replayed).</summary>
    public string? Truncation { get; init; }

    /// <summary>Whether the replayed card did exactly what the recording says, record for record.</summary>
    public bool Identical => Divergence is null;

    /// <summary>Device time replayed per second of wall time.</summary>
    public double SpeedUp => Elapsed.TotalSeconds > 0 ? VirtualNanoseconds / 1e9 / Elapsed.TotalSeconds : double.PositiveInfinity;

    /// <summary>Records replayed per second of wall time.</summary>
    public double RecordsPerSecond => Elapsed.TotalSeconds > 0 ? Records / Elapsed.TotalSeconds : 0;

    /// <summary>DMA payload replayed per second of wall time, in MB (10⁶ bytes).</summary>
    public double DmaMegabytesPerSecond => Elapsed.TotalSeconds > 0 ? DmaBytes / 1e6 / Elapsed.TotalSeconds : 0;

    /// <summary>
    /// One line for people: identical or DIVERGED, what was replayed, how fast, and where a truncated trace was cut
    /// ("trace.petrace: identical — 12,345 records, …").
    /// </summary>
    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"{TracePath}: {(Identical ? "identical" : "DIVERGED")} — {Records:N0} records, {Units:N0} units, {DmaBytes:N0} DMA bytes, " +
        $"{VirtualNanoseconds / 1e9:0.000} s of device time replayed in {Elapsed.TotalMilliseconds:0} ms ({SpeedUp:0.#}× real time, " +
        $"{RecordsPerSecond:N0} records/s, {DmaMegabytesPerSecond:0.0} MB/s of DMA payload)")
        + (Truncation is null ? "" : $"; only up to the last whole unit before the cut ({Truncation})");

    /// <summary>What a replay verb prints (the summary, then the divergence report if any) and its exit code: 0 identical, 1 diverged.</summary>
    public int WriteOutcome(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.WriteLine(Summary());
        if (Divergence is { } d)
        {
            output.Write(d.Report());
            return 1;
        }

        return 0;
    }
}

/// <summary>The first place the replayed card did something other than the recording.</summary>
public sealed record ReplayDivergence
{
    /// <summary>Why, in words ("the device wrote other bytes into guest memory").</summary>
    public required string Reason { get; init; }

    /// <summary>The recorded record where it happened (or the unit, when the replay did too little or too much).</summary>
    public required TraceEvent At { get; init; }

    /// <summary>The unit being replayed.</summary>
    public required TraceEvent Unit { get; init; }

    /// <summary>What the replayed card did instead, or null when it did nothing there.</summary>
    public string? Replayed { get; init; }

    /// <summary>Dump lines of the records before <see cref="At"/> (up to <see cref="ReplayOptions.Context"/> of them).</summary>
    public IReadOnlyList<string> Before { get; init; } = [];

    /// <summary>Dump lines of the records after <see cref="At"/> (up to <see cref="ReplayOptions.Context"/> of them).</summary>
    public IReadOnlyList<string> After { get; init; } = [];

    /// <summary>How the trace's records read (its device kinds), for the report.</summary>
    public RecordSchema? Schema { get; init; }

    /// <summary>The divergence for people, several lines: where (record, device time, unit), what was recorded, what was replayed, and the records around it.</summary>
    public string Report()
    {
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"replay diverged at record {At.Index}, device time {TraceEventText.Seconds(Unit.Time)} s: {Reason}\n");
        s.Append(CultureInfo.InvariantCulture, $"  in unit   {Unit.Index}: {TraceEventText.Describe(Unit.ToRecord(), Schema)}\n");
        s.Append(CultureInfo.InvariantCulture, $"  recorded  {At.Index}: {TraceEventText.Describe(At.ToRecord(), Schema)}\n");
        s.Append(CultureInfo.InvariantCulture, $"  replayed: {Replayed ?? "(nothing)"}\n");
        s.Append("around it:\n");
        foreach (var line in Before)
        {
            s.Append("   ").Append(line).Append('\n');
        }

        s.Append(" > ").Append(TraceEventText.Line(At, Schema)).Append('\n');
        foreach (var line in After)
        {
            s.Append("   ").Append(line).Append('\n');
        }

        return s.ToString();
    }
}
