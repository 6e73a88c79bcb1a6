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

    /// <summary>The register concerned, by name ("SD0_CTL").</summary>
    public string? Register { get; init; }

    /// <summary>The BAR holding <see cref="Register"/>.</summary>
    public int? RegisterBar { get; init; }

    /// <summary>The byte offset of <see cref="Register"/> (or of the access) in <see cref="RegisterBar"/>.</summary>
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
/// <param name="Function">The function's name.</param>
/// <param name="Rule">The rule broken.</param>
/// <param name="Severity">How much it counted under the policy in force (never <see cref="RuleSeverity.Off"/>).</param>
/// <param name="Details">What the checker knew.</param>
/// <param name="Cause">The guest access charged with it, or null when the device found it on its own.</param>
/// <param name="DeviceNanoseconds">Device time of the report.</param>
/// <param name="WallTime">Host time of the report (UTC).</param>
/// <param name="Number">The report's number among the function's reports, from 1.</param>
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

    /// <summary>The rule's name (<see cref="DriverRule.Name"/>).</summary>
    public string RuleName => Rule.Name;

    /// <summary>What the driver did (<see cref="ViolationDetails.What"/>).</summary>
    public string What => Details.What;

    /// <summary>True for a violation, false for a warning.</summary>
    public bool IsViolation => Severity == RuleSeverity.Violation;

    /// <summary>The sanitizer-style report (several lines, no trailing newline).</summary>
    /// <param name="specName">The document the rule's section is in, prefixed to it ("firmware-models/pcieemu-audio/README.md"), or null.</param>
    public string Report(string? specName = null) => ViolationReport.Format(this, specName);

    /// <summary>One line of JSON (no newline) with every known field.</summary>
    /// <param name="includeWallTime">Include <see cref="WallTime"/>; leave it out where the line must be reproducible (trace records).</param>
    public string ToJson(bool includeWallTime = true) => ViolationJson.Format(this, includeWallTime);

    /// <summary>"RULE: what", for assertion messages.</summary>
    public override string ToString() => $"{Rule.Name}: {Details.What}";
}

/// <summary>
/// A problem on the host's side (a missing WAV file, a loopback whose rates differ): it stops what it concerns like
/// a violation would, but the driver did nothing wrong, so it is never counted as, nor reported as, a violation.
/// </summary>
/// <param name="Function">The function's name.</param>
/// <param name="Kind">A short stable name for the problem.</param>
/// <param name="Detail">What happened.</param>
/// <param name="Stream">The stream concerned, if one is.</param>
/// <param name="DeviceNanoseconds">Device time of the report.</param>
/// <param name="WallTime">Host time of the report (UTC).</param>
public sealed record HostProblem(string Function, string Kind, string Detail, int? Stream, long DeviceNanoseconds, DateTimeOffset WallTime)
{
    /// <summary>"Kind (stream n): detail".</summary>
    public override string ToString() => Stream is { } s ? $"{Kind} (stream {s}): {Detail}" : $"{Kind}: {Detail}";
}
