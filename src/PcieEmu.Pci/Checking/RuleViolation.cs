namespace PcieEmu.Pci.Checking;

/// <summary>
/// The particulars of one broken rule, as the checker (device or framework) knows them. Every field but
/// <see cref="What"/> is optional: a report shows what is known. Built by the checker and completed by
/// <see cref="DriverChecker.Report"/> (time, cause, severity).
/// </summary>
public sealed record ViolationDetails
{
    /// <summary>What the driver did, in one sentence without the rule's name ("started stream 1 with SD_BDL = 0").</summary>
    public required string What { get; init; }

    /// <summary>The engine or stream the rule concerns, if one does (a stream index).</summary>
    public int? Stream { get; init; }

    /// <summary>The register concerned: its name, BAR and offset.</summary>
    public string? Register { get; init; }

    public int? RegisterBar { get; init; }

    public ulong? RegisterOffset { get; init; }

    /// <summary>The value the driver wrote (or programmed) that broke the rule.</summary>
    public ulong? Value { get; init; }

    /// <summary>The first bad IOVA (for DMA) or the first bad byte address.</summary>
    public ulong? BadAddress { get; init; }

    /// <summary>The descriptor (index in its list) that broke the rule.</summary>
    public int? Descriptor { get; init; }

    /// <summary>The error code the device reported for it (e.g. "BDL_FAULT (1)"), if it reports one.</summary>
    public string? ErrorCode { get; init; }

    /// <summary>What the device did about it ("the stream stopped with SD_STS.ERR").</summary>
    public string? Consequence { get; init; }

    /// <summary>
    /// The guest access that caused it when that is not the access in progress: a stream that fails while running
    /// charges the write that started it. Null: the access in progress, if any.
    /// </summary>
    public GuestAccess? Cause { get; init; }
}

/// <summary>
/// A rule a driver broke, with everything known about where and when: the structured form every consumer gets
/// (assertions, the report text, the JSON line, trace records).
/// </summary>
public sealed record RuleViolation(
    string Function,
    DriverRule Rule,
    RuleSeverity Severity,
    ViolationDetails Details,
    GuestAccess? Cause,
    long DeviceNanoseconds,
    DateTimeOffset WallTime,
    long Number)
{
    /// <summary>The register the causing access hit (when it was a BAR access the device's register map names).</summary>
    public string? CauseRegister { get; init; }

    public string RuleName => Rule.Name;

    public string What => Details.What;

    public bool IsViolation => Severity == RuleSeverity.Violation;

    /// <summary>The sanitizer-style report (several lines, no trailing newline).</summary>
    public string Report(string? specName = null) => ViolationReport.Format(this, specName);

    /// <summary>One line of JSON (no newline) with every known field.</summary>
    public string ToJson(bool includeWallTime = true) => ViolationJson.Format(this, includeWallTime);

    public override string ToString() => $"{Rule.Name}: {Details.What}";
}

/// <summary>
/// A problem on the host's side (a missing WAV file, a loopback whose rates differ): it stops what it concerns like
/// a violation would, but the driver did nothing wrong, so it is never counted as, nor reported as, a violation.
/// </summary>
public sealed record HostProblem(string Function, string Kind, string Detail, int? Stream, long DeviceNanoseconds, DateTimeOffset WallTime)
{
    public override string ToString() => Stream is { } s ? $"{Kind} (stream {s}): {Detail}" : $"{Kind}: {Detail}";
}
