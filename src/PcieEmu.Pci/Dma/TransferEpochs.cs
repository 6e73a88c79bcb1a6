using System.Runtime.InteropServices;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// The read side of the DMA table's unmap protocol, in the manner of RCU: a transfer over local memory enters the
/// current epoch once (two atomic operations per transfer, however many mappings it crosses), and an unmap, having
/// taken its mappings out of the table, flips the epoch and waits until every transfer of the old epoch has left.
/// A transfer that enters after the flip reads the new table, so it cannot find the removed mappings; one that
/// entered before is waited for. Two counters, so transfers that keep starting cannot starve the wait.
/// <para>
/// A transfer that may wait on the client (message DMA) must not be inside an epoch: the unmap waiting for it would
/// run on the thread that has to read the client's reply. Those use the per-mapping count of <see cref="DmaRegion"/>.
/// </para>
/// </summary>
internal sealed class TransferEpochs
{
    private readonly Counters _inFlight = new();
    private readonly object _flipLock = new();
    private int _epoch;

    /// <summary>Enters the current epoch; the value returned goes to <see cref="Exit"/>.</summary>
    public int Enter()
    {
        while (true)
        {
            int e = Volatile.Read(ref _epoch);
            Interlocked.Increment(ref _inFlight[e]);

            // Dekker with Synchronize: it flips, then reads our counter; we count, then read its flip. Either it
            // sees us and waits, or we see the flip and retry in the new epoch (reading the new table).
            if (Volatile.Read(ref _epoch) == e)
            {
                return e;
            }

            Interlocked.Decrement(ref _inFlight[e]);
        }
    }

    public void Exit(int epoch) => Interlocked.Decrement(ref _inFlight[epoch]);

    /// <summary>
    /// Flips the epoch and waits until no transfer of the old one is left, or until <paramref name="timeout"/>.
    /// Returns the old epoch's number and whether it drained. Call after the table no longer holds what is retired.
    /// </summary>
    public (int Epoch, bool Drained) Synchronize(TimeSpan timeout)
    {
        lock (_flipLock)
        {
            int old = _epoch;
            Interlocked.Exchange(ref _epoch, old ^ 1);
            return (old, WaitDrained(old, timeout));
        }
    }

    /// <summary>Is epoch <paramref name="epoch"/> empty now (for releasing what a timed-out drain left behind)?</summary>
    public bool IsDrained(int epoch) => Volatile.Read(ref _inFlight[epoch]) == 0;

    private bool WaitDrained(int epoch, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        var spin = default(SpinWait);
        while (Volatile.Read(ref _inFlight[epoch]) > 0)
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }

            spin.SpinOnce(sleep1Threshold: 20);
        }

        return true;
    }

    /// <summary>Two counters on their own cache lines: the transfers' increments do not bounce the flip's line.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct Padded
    {
        [FieldOffset(64)]
        public int Zero;

        [FieldOffset(128)]
        public int One;
    }

    private sealed class Counters
    {
        private Padded _values;

        public ref int this[int epoch] => ref epoch == 0 ? ref _values.Zero : ref _values.One;
    }
}
