namespace PcieEmu.Pci.Logging;

/// <summary>
/// Keeps a per-event warning from flooding the log when anyone can cause the event at will (a same-user process
/// connecting in a loop, a guest hammering a register): the first event is logged, then at most one line per
/// <see cref="Interval"/>, which reports how many events were held back since the previous line. The caller owns the
/// messages (source-generated, with event ids); this type only decides and counts. Thread-safe.
/// </summary>
/// <example>
/// <code>
/// if (_refusals.ShouldLog(out long heldBack))
/// {
///     if (heldBack == 0) LogRefused(_logger, path);             // the event itself
///     else LogRefusedSummary(_logger, heldBack + 1, path);    // this one and those held back
/// }
/// // at shutdown: if (_refusals.TakeHeldBack() is > 0 and var n) LogRefusedSummary(_logger, n, path);
/// </code>
/// </example>
public sealed class RateLimitedLog
{
    private readonly object _sync = new();
    private readonly TimeProvider _time;
    private bool _loggedAny;
    private long _lastLogged;
    private long _heldBack;
    private long _total;

    /// <param name="interval">Least time between two lines; zero logs every event.</param>
    /// <param name="time">The clock; tests pass a fake one. Default: the system's monotonic clock.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="interval"/> is negative.</exception>
    public RateLimitedLog(TimeSpan interval, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(interval, TimeSpan.Zero);
        Interval = interval;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Least time between two lines.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Events counted so far, logged or not.</summary>
    public long Total
    {
        get
        {
            lock (_sync)
            {
                return _total;
            }
        }
    }

    /// <summary>
    /// Counts one event. True when a line is due now; <paramref name="heldBack"/> is then the number of earlier events
    /// that were not logged since the previous line (0: log this event; more: log a summary that includes it).
    /// </summary>
    public bool ShouldLog(out long heldBack)
    {
        lock (_sync)
        {
            _total++;
            long now = _time.GetTimestamp();
            if (_loggedAny && _time.GetElapsedTime(_lastLogged, now) < Interval)
            {
                _heldBack++;
                heldBack = 0;
                return false;
            }

            _loggedAny = true;
            _lastLogged = now;
            heldBack = _heldBack;
            _heldBack = 0;
            return true;
        }
    }

    /// <summary>
    /// The events not logged since the previous line, and starts counting again from 0: for a closing summary (at
    /// shutdown, at the end of a session), so a burst that stopped is still reported. The interval is not restarted.
    /// </summary>
    public long TakeHeldBack()
    {
        lock (_sync)
        {
            long n = _heldBack;
            _heldBack = 0;
            return n;
        }
    }
}
