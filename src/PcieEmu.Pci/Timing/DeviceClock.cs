using System.Diagnostics;

namespace PcieEmu.Pci.Timing;

/// <summary>
/// The card's notion of time in nanoseconds (WALLCLK, spec §11). Injectable: unit tests and trace replay run
/// cards in virtual time.
/// </summary>
public interface IDeviceClock
{
    /// <summary>Now, in nanoseconds from the clock's origin; never goes backwards. Read from any thread.</summary>
    long NowNanoseconds { get; }
}

/// <summary>Host monotonic time since this clock was created.</summary>
public sealed class MonotonicDeviceClock : IDeviceClock
{
    private readonly long _origin = Stopwatch.GetTimestamp();

    /// <inheritdoc/>
    public long NowNanoseconds => (long)((Int128)(Stopwatch.GetTimestamp() - _origin) * 1_000_000_000 / Stopwatch.Frequency);
}

/// <summary>
/// Virtual time that moves only when told to: unit tests, and trace replay. Pair it with a
/// <see cref="Scheduling.SchedulerMode.Manual"/> scheduler (<see cref="Scheduling.DeviceScheduler.AdvanceTo"/> moves the
/// clock through every deadline) or an <see cref="Scheduling.SchedulerMode.External"/> one. Thread-safe.
/// </summary>
/// <param name="start">The initial time in nanoseconds.</param>
public sealed class ManualDeviceClock(long start = 0) : IDeviceClock
{
    private long _now = start;

    /// <inheritdoc/>
    public long NowNanoseconds => Interlocked.Read(ref _now);

    /// <summary>Moves the clock to <paramref name="nanoseconds"/>; runs nothing (step the scheduler for that).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="nanoseconds"/> is earlier than now.</exception>
    public void Set(long nanoseconds)
    {
        if (nanoseconds < NowNanoseconds)
        {
            throw new ArgumentOutOfRangeException(nameof(nanoseconds), "time does not run backwards");
        }

        Interlocked.Exchange(ref _now, nanoseconds);
    }

    /// <summary>Moves the clock forward by <paramref name="nanoseconds"/>; runs nothing.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="nanoseconds"/> is negative.</exception>
    public void Advance(long nanoseconds) => Set(NowNanoseconds + nanoseconds);
}
