using System.Runtime.InteropServices;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// The read side of the DMA tables' unmap protocol, in the manner of RCU, one domain for the process. A transfer over
/// local memory marks its thread's slot with the current grace-period number (one fenced store to a cache line only
/// that thread writes, however many mappings the transfer crosses) and clears it with a plain store when it is done.
/// An unmap, having taken its mappings out of the table, starts a new grace period and waits until no slot still shows
/// an older one: every transfer that could have found the removed mappings has then left. A transfer that starts
/// later reads the new table and is not waited for, so transfers that keep starting cannot starve an unmap.
/// <para>
/// Measured alternatives: a shared in-flight counter (two atomic read-modify-writes on one line per transfer, plus
/// the per-mapping and per-mmap reference counts before that) cost a third of a 4 KiB copy; a fence-free read side
/// with a process-wide barrier on the unmap (membarrier) made transfers no faster once copies were vectorised, and
/// doubled the cost of a map plus an unmap (3–9 µs per barrier on these hosts).
/// </para>
/// <para>
/// A transfer that may wait on the client (message DMA) must not be inside: an unmap waiting for it would run on the
/// thread that has to read the client's reply. Those count themselves on their mapping (<see cref="DmaRegion"/>).
/// Slots of threads that have ended are dropped when a new thread registers.
/// </para>
/// </summary>
internal static class TransferEpochs
{
    private static readonly object RegisterLock = new();
    private static long s_gracePeriod = 1;
    private static ReaderSlot[] s_slots = [];

    [ThreadStatic]
    private static ReaderSlot? t_slot;

    /// <summary>Enters a read-side section on this thread (nestable); pass the slot to <see cref="Exit"/>.</summary>
    public static ReaderSlot Enter()
    {
        var slot = t_slot ?? Register();
        if (slot.Depth++ == 0)
        {
            // Store, then a full fence before the caller reads the table (Dekker with WaitForReaders: either the
            // unmap sees this slot busy, or this transfer sees the table without the unmapped mappings).
            Interlocked.Exchange(ref slot.GracePeriod, Volatile.Read(ref s_gracePeriod));
        }

        return slot;
    }

    public static void Exit(ReaderSlot slot)
    {
        if (--slot.Depth == 0)
        {
            // A release store: the transfer's loads and stores are done before an unmap can see the slot idle.
            Volatile.Write(ref slot.GracePeriod, 0);
        }
    }

    /// <summary>
    /// Starts a grace period and waits until every read-side section that began before it has ended, or until
    /// <paramref name="timeout"/>. Returns the grace period's number (for <see cref="HasEnded"/>) and whether it ended.
    /// Call once what is retired is no longer reachable from the table.
    /// </summary>
    public static (long GracePeriod, bool Ended) WaitForReaders(TimeSpan timeout)
    {
        long period = Interlocked.Increment(ref s_gracePeriod); // a full fence: the table swap is visible first
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        var spin = default(SpinWait);
        foreach (var slot in Volatile.Read(ref s_slots))
        {
            while (slot.IsBefore(period))
            {
                if (Environment.TickCount64 > deadline)
                {
                    return (period, false);
                }

                spin.SpinOnce(sleep1Threshold: 20);
            }
        }

        return (period, true);
    }

    /// <summary>Has every read-side section that began before grace period <paramref name="period"/> ended (no waiting)?</summary>
    public static bool HasEnded(long period)
    {
        Interlocked.MemoryBarrier();
        foreach (var slot in Volatile.Read(ref s_slots))
        {
            if (slot.IsBefore(period))
            {
                return false;
            }
        }

        return true;
    }

    private static ReaderSlot Register()
    {
        var slot = new ReaderSlot(Thread.CurrentThread);
        lock (RegisterLock)
        {
            s_slots = [.. s_slots.Where(s => s.Owner.IsAlive), slot];
        }

        t_slot = slot;
        return slot;
    }

    /// <summary>One thread's mark: 0 when outside, else the grace period it entered in.</summary>
    internal sealed class ReaderSlot(Thread owner)
    {
        private Mark _mark;

        public Thread Owner { get; } = owner;

        /// <summary>Written by the owner thread only; read by unmaps.</summary>
        public ref long GracePeriod => ref _mark.GracePeriod;

        /// <summary>Nesting depth; the owner thread's alone.</summary>
        public ref int Depth => ref _mark.Depth;

        public bool IsBefore(long period)
        {
            long entered = Volatile.Read(ref _mark.GracePeriod);
            return entered != 0 && entered < period;
        }

        /// <summary>On a cache line of its own, so that threads marking their slots do not share lines.</summary>
        [StructLayout(LayoutKind.Explicit, Size = 192)]
        private struct Mark
        {
            [FieldOffset(64)]
            public long GracePeriod;

            [FieldOffset(72)]
            public int Depth;
        }
    }
}
