namespace PcieEmu.Pci.Dma;

/// <summary>
/// One mapping of a <see cref="DmaController"/>: a range, the directions it permits, its memory, and a count of
/// transfers using it so an unmap can wait for them (<see cref="RetireAndDrain"/>).
/// </summary>
internal sealed class DmaRegion(ulong iova, ulong size, DmaAccess access, IDmaBacking backing)
{
    private int _users;
    private volatile bool _retired;

    public ulong Iova { get; } = iova;

    public ulong Size { get; } = size;

    public ulong Last { get; } = iova + (size - 1);

    public DmaAccess Access { get; } = access;

    public IDmaBacking Backing { get; } = backing;

    /// <summary>Unmapped (or being unmapped): no new transfer may start on it.</summary>
    public bool IsRetired => _retired;

    public bool TryAcquire()
    {
        Interlocked.Increment(ref _users);
        if (_retired)
        {
            Interlocked.Decrement(ref _users);
            return false;
        }

        return true;
    }

    public void Release() => Interlocked.Decrement(ref _users);

    public bool RetireAndDrain(TimeSpan timeout)
    {
        _retired = true;
        Interlocked.MemoryBarrier(); // pairs with TryAcquire's increment-then-check: no user can slip past the drain
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        var spin = default(SpinWait);
        while (Volatile.Read(ref _users) > 0)
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }

            spin.SpinOnce(sleep1Threshold: 20);
        }

        return true;
    }
}
