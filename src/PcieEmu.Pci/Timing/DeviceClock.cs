using System.Diagnostics;

namespace PcieEmu.Pci.Timing;

/// <summary>
/// The card's notion of time in nanoseconds (WALLCLK, spec §11). Injectable: unit tests and trace replay run
/// cards in virtual time.
/// </summary>
public interface IDeviceClock
{
    long NowNanoseconds { get; }
}

/// <summary>Host monotonic time since this clock was created.</summary>
public sealed class MonotonicDeviceClock : IDeviceClock
{
    private readonly long _origin = Stopwatch.GetTimestamp();

    public long NowNanoseconds => (long)((Int128)(Stopwatch.GetTimestamp() - _origin) * 1_000_000_000 / Stopwatch.Frequency);
}

/// <summary>Virtual time that moves only when told to.</summary>
public sealed class ManualDeviceClock(long start = 0) : IDeviceClock
{
    private long _now = start;

    public long NowNanoseconds => Interlocked.Read(ref _now);

    public void Set(long nanoseconds)
    {
        if (nanoseconds < NowNanoseconds)
        {
            throw new ArgumentOutOfRangeException(nameof(nanoseconds), "time does not run backwards");
        }

        Interlocked.Exchange(ref _now, nanoseconds);
    }

    public void Advance(long nanoseconds) => Set(NowNanoseconds + nanoseconds);
}
