using Microsoft.Win32.SafeHandles;

namespace PcieEmu.Interop;

/// <summary>
/// A wake-up signal with a nanosecond timeout: an eventfd waited on with ppoll(2). .NET's wait handles time out in
/// whole milliseconds, which made a device thread that must act at a sample-clock instant up to a millisecond
/// late (audio card period interrupts); CLOCK_MONOTONIC, which ppoll uses, is also the clock Stopwatch reads.
/// One thread waits; any thread may wake it.
/// </summary>
public sealed class PreciseWaiter : IDisposable
{
    private readonly SafeFileHandle _event = EventFd.Create(nonBlocking: true);

    /// <summary>Wakes the waiter (or makes its next wait return at once). A no-op once disposed.</summary>
    public void Wake()
    {
        try
        {
            EventFd.Signal(_event);
        }
        catch (ObjectDisposedException)
        {
            // A late wake-up of a device being taken down: nobody waits any more.
        }
    }

    /// <summary>
    /// Waits until <see cref="Wake"/> or <paramref name="nanoseconds"/> pass (negative: no timeout). Returns true
    /// when woken. May return early on a signal; callers recompute their deadline either way.
    /// </summary>
    public unsafe bool Wait(long nanoseconds)
    {
        bool added = false;
        _event.DangerousAddRef(ref added);
        try
        {
            var fd = new pollfd { fd = (int)_event.DangerousGetHandle(), events = Libc.POLLIN };
            var timeout = new timespec { tv_sec = Math.Max(0, nanoseconds) / 1_000_000_000, tv_nsec = Math.Max(0, nanoseconds) % 1_000_000_000 };
            int n = Libc.ppoll(&fd, 1, nanoseconds < 0 ? null : &timeout, null);
            if (n > 0)
            {
                EventFd.Drain(_event);
                return true;
            }

            return false;
        }
        finally
        {
            if (added)
            {
                _event.DangerousRelease();
            }
        }
    }

    /// <summary>Closes the eventfd. Call it once no thread waits any more: a <see cref="Wait"/> after it throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose() => _event.Dispose();
}
