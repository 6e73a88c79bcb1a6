namespace PcieEmu.Pci.Dma;

/// <summary>
/// One mapping of a <see cref="DmaController"/>: a range, the directions it permits, its memory, and what keeps that
/// memory valid while transfers use it. Local transfers are covered by the controller's <see cref="TransferEpochs"/>
/// and copy straight through <see cref="Address"/> when the backing could be pinned; a transfer that may wait on the
/// client counts itself here (<see cref="TryAcquire"/>) so an unmap can wait for it (<see cref="DrainUsers"/>).
/// </summary>
internal sealed class DmaRegion
{
    private int _users;
    private volatile bool _retired;
    private bool _released;

    public DmaRegion(ulong iova, ulong size, DmaAccess access, IDmaBacking backing)
    {
        Iova = iova;
        Size = size;
        Last = iova + (size - 1);
        Access = access;
        Backing = backing;
        IsLocal = backing.IsLocal;
        if (backing is IPinnableDmaBacking pinnable && pinnable.TryPin(size, out nint address, out bool writable))
        {
            Address = address;
            WritableInPlace = writable;
        }
    }

    public ulong Iova { get; }

    public ulong Size { get; }

    public ulong Last { get; }

    public DmaAccess Access { get; }

    public IDmaBacking Backing { get; }

    /// <summary><see cref="IDmaBacking.IsLocal"/>, asked once: the range check reads it for every mapping it crosses.</summary>
    public bool IsLocal { get; }

    /// <summary>Where the pinned memory starts, valid for <see cref="Size"/> bytes until <see cref="Release"/>; 0 when not pinned.</summary>
    public nint Address { get; }

    /// <summary>Whether stores through <see cref="Address"/> are allowed (the mmap is writable).</summary>
    public bool WritableInPlace { get; }

    /// <summary>Unmapped (or being unmapped): no new transfer may start on it.</summary>
    public bool IsRetired => _retired;

    /// <summary>Counts a transfer outside the read-side sections (one that may wait on the client); false once retired.</summary>
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

    /// <summary>Taken out of the table: set before the grace period starts, so a transfer entering after it sees it.</summary>
    public void MarkRetired()
    {
        _retired = true;
        Interlocked.MemoryBarrier(); // pairs with TryAcquire's increment-then-check: no user can slip past the drain
    }

    /// <summary>Waits until no <see cref="TryAcquire"/> user is left; false on timeout.</summary>
    public bool DrainUsers(TimeSpan timeout)
    {
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

    /// <summary>Unpins and disposes the backing, once; only after every transfer that could use it has finished.</summary>
    public void ReleaseMemory()
    {
        if (_released)
        {
            return;
        }

        _released = true;
        if (Address != 0)
        {
            ((IPinnableDmaBacking)Backing).Unpin();
        }

        Backing.Dispose();
    }
}
