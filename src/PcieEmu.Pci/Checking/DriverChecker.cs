using PcieEmu.Pci.Timing;

namespace PcieEmu.Pci.Checking;

/// <summary>
/// One function's record of what its driver did wrong (<see cref="RuleViolation"/>s, warnings included) and of host
/// problems (kept apart: never a driver's fault). Checkers — the device's register and engine code, and the
/// framework's own rules — call <see cref="Report"/>; it completes the particulars (which guest access caused it,
/// device time, severity under <see cref="Policy"/>) and tells the subscribers (log, JSON lines, trace).
/// <para>
/// Thread-safe. The guest access in progress is known to the thread running it (the function's bus path sets it
/// under the function lock); a report from any other thread names the cause it is given, or none. The first
/// <see cref="Kept"/> reports are kept and announced; all are counted. Subscribers run on the reporting thread,
/// often under the function lock: they must be quick and must not call back into the function.
/// </para>
/// </summary>
public sealed class DriverChecker
{
    /// <summary>How many reports (of each category) are kept and announced; later ones are only counted.</summary>
    public const int Kept = 1000;

    private readonly List<RuleViolation> _kept = [];
    private readonly List<HostProblem> _host = [];
    private readonly Dictionary<string, long> _byRule = new(StringComparer.Ordinal);
    private readonly IDeviceClock _clock;
    private GuestAccess _current;
    private int _currentThread;
    private long _sequence;
    private long _violations;
    private long _warnings;
    private long _hostProblems;
    private long _reports;

    internal DriverChecker(string function, IDeviceClock clock)
    {
        Function = function;
        _clock = clock;
    }

    /// <summary>The function's name (<see cref="PciFunction.Name"/>), stamped on every report.</summary>
    public string Function { get; }

    /// <summary>Severity overrides; set before the guest starts (reports read it as they happen).</summary>
    public CheckerPolicy Policy { get; set; } = CheckerPolicy.Default;

    /// <summary>The document rule sections refer to (e.g. "firmware-models/pcieemu-audio/README.md"), for reports.</summary>
    public string? SpecName { get; set; }

    /// <summary>Names a BAR offset's register for reports (the device's register map), or null.</summary>
    public Func<int, ulong, string?>? RegisterNames { get; set; }

    /// <summary>Driver-rule violations reported (at <see cref="RuleSeverity.Violation"/> under the policy).</summary>
    public long Count => Interlocked.Read(ref _violations);

    /// <summary>Warnings reported.</summary>
    public long Warnings => Interlocked.Read(ref _warnings);

    /// <summary>Host problems reported (not the driver's fault).</summary>
    public long HostProblemCount => Interlocked.Read(ref _hostProblems);

    /// <summary>Guest accesses seen so far (the sequence number of the latest).</summary>
    public long AccessCount => Interlocked.Read(ref _sequence);

    /// <summary>The guest access the calling thread is serving, if any.</summary>
    public GuestAccess? CurrentAccess =>
        Volatile.Read(ref _currentThread) == Environment.CurrentManagedThreadId ? _current : null;

    /// <summary>A kept violation or warning (the first <see cref="Kept"/>).</summary>
    public event Action<RuleViolation>? Recorded;

    /// <summary>A kept host problem.</summary>
    public event Action<HostProblem>? HostProblemRecorded;

    /// <summary>Reports that <paramref name="rule"/> was broken; returns the report, or null if the policy switches the rule off.</summary>
    /// <param name="rule">The broken rule (declare each once, as a static field).</param>
    /// <param name="details">What is known about it; <see cref="ViolationDetails.Cause"/> defaults to <see cref="CurrentAccess"/>.</param>
    public RuleViolation? Report(DriverRule rule, ViolationDetails details)
    {
        var severity = Policy.SeverityOf(rule);
        if (severity == RuleSeverity.Off)
        {
            return null;
        }

        Interlocked.Increment(ref severity == RuleSeverity.Violation ? ref _violations : ref _warnings);
        var cause = details.Cause ?? CurrentAccess;
        var v = new RuleViolation(Function, rule, severity, details, cause,
            _clock.NowNanoseconds, DateTimeOffset.UtcNow, Interlocked.Increment(ref _reports))
        {
            CauseRegister = cause is { Kind: GuestAccessKind.BarRead or GuestAccessKind.BarWrite } c ? RegisterNames?.Invoke(c.Bar, c.Offset) : null,
        };
        bool announce;
        lock (_kept)
        {
            _byRule[rule.Name] = _byRule.GetValueOrDefault(rule.Name) + 1;
            announce = _kept.Count < Kept;
            if (announce)
            {
                _kept.Add(v);
            }
        }

        if (announce)
        {
            Recorded?.Invoke(v);
        }

        return v;
    }

    /// <summary>Reports a problem on the host's side (configuration, files): stopped like a violation, never counted as one.</summary>
    /// <param name="kind">A short stable name for the problem ("WavFileMissing").</param>
    /// <param name="detail">What happened, in one sentence.</param>
    /// <param name="stream">The stream concerned, if one is.</param>
    public HostProblem ReportHost(string kind, string detail, int? stream = null)
    {
        Interlocked.Increment(ref _hostProblems);
        var p = new HostProblem(Function, kind, detail, stream, _clock.NowNanoseconds, DateTimeOffset.UtcNow);
        bool announce;
        lock (_kept)
        {
            announce = _host.Count < Kept;
            if (announce)
            {
                _host.Add(p);
            }
        }

        if (announce)
        {
            HostProblemRecorded?.Invoke(p);
        }

        return p;
    }

    /// <summary>The kept violations and warnings, in the order reported.</summary>
    public IReadOnlyList<RuleViolation> Snapshot()
    {
        lock (_kept)
        {
            return [.. _kept];
        }
    }

    /// <summary>The kept host problems.</summary>
    public IReadOnlyList<HostProblem> HostProblems()
    {
        lock (_kept)
        {
            return [.. _host];
        }
    }

    /// <summary>How often each rule was reported (all reports, kept or not).</summary>
    public IReadOnlyDictionary<string, long> CountsByRule()
    {
        lock (_kept)
        {
            return new Dictionary<string, long>(_byRule, StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// Marks the start of a guest access on this thread (the function's bus path, under its lock); the returned
    /// scope ends it. Allocation-free.
    /// </summary>
    internal AccessScope Enter(GuestAccessKind kind, int bar, ulong offset, int size, ulong value)
    {
        long n = Interlocked.Increment(ref _sequence);
        _current = new GuestAccess(kind, bar, offset, size, value, n, _clock.NowNanoseconds);
        Volatile.Write(ref _currentThread, Environment.CurrentManagedThreadId);
        return new AccessScope(this);
    }

    private void Leave() => Volatile.Write(ref _currentThread, 0);

    /// <summary>The extent of one guest access.</summary>
    internal readonly struct AccessScope(DriverChecker checker) : IDisposable
    {
        public void Dispose() => checker?.Leave();
    }
}
