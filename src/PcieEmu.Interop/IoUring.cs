using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PcieEmu.Interop;

/// <summary>
/// A minimal io_uring (no SQPOLL, no registered buffers) for one thread, used by
/// <see cref="UnixMessaging.SendAndReceive"/>: a reply and the receive of the next request go to the kernel with one
/// system call instead of two. Only the thread that created it may use or dispose it. It owns its ring fd and the
/// ring mappings; <see cref="Dispose"/> releases both.
/// </summary>
public sealed unsafe class IoUring : IDisposable
{
    internal const byte IORING_OP_RECVMSG = 10;
    internal const byte IORING_OP_SEND = 26;
    private const uint IORING_ENTER_GETEVENTS = 1;
    private const uint IORING_FEAT_SINGLE_MMAP = 1;
    private const long IORING_OFF_SQ_RING = 0;
    private const long IORING_OFF_CQ_RING = 0x8000000;
    private const long IORING_OFF_SQES = 0x10000000;
    private const int MAP_POPULATE = 0x8000;

    private readonly SafeFileHandle _fd;
    private readonly int _rawFd;
    private readonly (nint Address, nuint Length)[] _maps;
    private readonly uint* _sqTail;
    private readonly uint _sqMask;
    private readonly uint* _sqArray;
    private readonly io_uring_sqe* _sqes;
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly io_uring_cqe* _cqes;
    private bool _disposed;

    private IoUring(SafeFileHandle fd, in io_uring_params p, (nint, nuint)[] maps)
    {
        _fd = fd;
        bool added = false;
        fd.DangerousAddRef(ref added);
        _rawFd = (int)fd.DangerousGetHandle();
        _maps = maps;
        byte* sq = (byte*)maps[0].Item1;
        byte* cq = (byte*)maps[1].Item1;
        _sqTail = (uint*)(sq + p.sq_off.tail);
        _sqMask = *(uint*)(sq + p.sq_off.ring_mask);
        _sqArray = (uint*)(sq + p.sq_off.array);
        _sqes = (io_uring_sqe*)maps[2].Item1;
        _cqHead = (uint*)(cq + p.cq_off.head);
        _cqTail = (uint*)(cq + p.cq_off.tail);
        _cqMask = *(uint*)(cq + p.cq_off.ring_mask);
        _cqes = (io_uring_cqe*)(cq + p.cq_off.cqes);
        Entries = p.sq_entries;
    }

    /// <summary>Submission entries the ring holds: the requested count, rounded up to a power of two by the kernel.</summary>
    public uint Entries { get; }

    /// <summary>
    /// A ring of at least <paramref name="entries"/> entries for the calling thread only, or null with the errno (ENOSYS,
    /// EPERM in sandboxes, …). It asks for SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1+): completion work then runs only
    /// when this thread waits for its ring, not as interruptions of whatever else it does; older kernels get a plain
    /// ring. Never throws: every failure is the null result.
    /// </summary>
    public static IoUring? TryCreate(uint entries, out int errno)
    {
        const uint IORING_SETUP_SINGLE_ISSUER = 1 << 12;
        const uint IORING_SETUP_DEFER_TASKRUN = 1 << 13;
        io_uring_params p = default;
        p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        nint r = Libc.syscall(Libc.SYS_io_uring_setup, (nint)entries, (nint)(&p), 0, 0, 0, 0);
        if (r < 0 && Libc.LastErrno == Errno.EINVAL)
        {
            p = default;
            r = Libc.syscall(Libc.SYS_io_uring_setup, (nint)entries, (nint)(&p), 0, 0, 0, 0);
        }

        if (r < 0)
        {
            errno = Libc.LastErrno;
            return null;
        }

        var fd = FileDescriptors.Own((int)r);
        var maps = new (nint, nuint)[3];
        int mapped = 0;
        try
        {
            nuint sqLength = p.sq_off.array + (p.sq_entries * sizeof(uint));
            nuint cqLength = p.cq_off.cqes + (p.cq_entries * (uint)sizeof(io_uring_cqe));
            bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
            if (single)
            {
                sqLength = Math.Max(sqLength, cqLength);
            }

            maps[0] = (Map(fd, sqLength, IORING_OFF_SQ_RING), sqLength);
            mapped++;
            maps[1] = single ? (maps[0].Item1, 0) : (Map(fd, cqLength, IORING_OFF_CQ_RING), cqLength);
            mapped++;
            nuint sqesLength = p.sq_entries * (uint)sizeof(io_uring_sqe);
            maps[2] = (Map(fd, sqesLength, IORING_OFF_SQES), sqesLength);
            mapped++;
            errno = 0;
            return new IoUring(fd, p, maps);
        }
        catch (IOException)
        {
            for (int i = 0; i < mapped; i++)
            {
                if (maps[i].Item2 > 0)
                {
                    Libc.munmap(maps[i].Item1, maps[i].Item2);
                }
            }

            fd.Dispose();
            errno = Errno.ENOMEM;
            return null;
        }
    }

    /// <summary>Claims the next submission entry, cleared; it is submitted by the next <see cref="Enter"/>.</summary>
    internal ref io_uring_sqe Claim()
    {
        uint tail = *_sqTail;
        uint index = tail & _sqMask;
        _sqArray[index] = index;
        ref var sqe = ref _sqes[index];
        sqe = default;
        Volatile.Write(ref *_sqTail, tail + 1);
        return ref sqe;
    }

    /// <summary>io_uring_enter: submits <paramref name="toSubmit"/> claimed entries and waits for <paramref name="minComplete"/> completions. Entries submitted, or -errno.</summary>
    internal int Enter(uint toSubmit, uint minComplete)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        nint r = Libc.syscall(Libc.SYS_io_uring_enter, _rawFd, (nint)toSubmit, (nint)minComplete, minComplete > 0 ? (nint)IORING_ENTER_GETEVENTS : 0, 0, 0);
        return r < 0 ? -Libc.LastErrno : (int)r;
    }

    /// <summary>Takes the oldest completion, if any.</summary>
    internal bool TryTakeCompletion(out ulong userData, out int result)
    {
        uint head = *_cqHead;
        if (head == Volatile.Read(ref *_cqTail))
        {
            userData = 0;
            result = 0;
            return false;
        }

        ref var cqe = ref _cqes[head & _cqMask];
        userData = cqe.user_data;
        result = cqe.res;
        Volatile.Write(ref *_cqHead, head + 1);
        return true;
    }

    private static nint Map(SafeFileHandle fd, nuint length, long offset)
    {
        nint address = Libc.mmap(0, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | MAP_POPULATE, fd, offset);
        return address == -1 ? throw new IOException($"mmap of the io_uring rings failed: {Errno.Name(Libc.LastErrno)}") : address;
    }

    /// <summary>
    /// Unmaps the rings and closes the ring fd; a second call does nothing. Only the creating thread may call it, and
    /// never while an <see cref="UnixMessaging.SendAndReceive"/> on this ring is under way.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var (address, length) in _maps)
        {
            if (length > 0)
            {
                Libc.munmap(address, length);
            }
        }

        _fd.DangerousRelease();
        _fd.Dispose();
    }
}
