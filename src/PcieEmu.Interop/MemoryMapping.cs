using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

/// <summary>What a copy into or out of a <see cref="MemoryMapping"/> did.</summary>
public enum MappingCopy
{
    /// <summary>Every byte moved.</summary>
    Ok,

    /// <summary>The range is not inside the mapping; nothing moved.</summary>
    OutOfRange,

    /// <summary>A write to a read-only mapping; nothing moved.</summary>
    ReadOnly,

    /// <summary>
    /// A fault-checked mapping could not reach a page (the file behind it shrank): the copy stopped at the fault,
    /// so part of it may have moved.
    /// </summary>
    Fault,
}

/// <summary>
/// An mmap(2) of a file descriptor, owned by a SafeHandle so the unmap can never run under an active copy:
/// every access brackets the pointer use with DangerousAddRef/DangerousRelease. The offset is page-aligned
/// internally; the slack is hidden, so offset 0 of this object is the caller's offset in the file.
/// <para>
/// A shared mapping of a file that its owner can shrink is a trap: a load or store past the new end raises SIGBUS,
/// and .NET turns that into a fatal AccessViolationException. A mapping made with <c>faultChecked</c> therefore
/// never touches its pages with loads and stores; it copies with process_vm_readv/process_vm_writev on our own
/// process, which report such a page as EFAULT (<see cref="MappingCopy.Fault"/>). One syscall per copy is the
/// price; memory whose size is sealed (<see cref="MemFd.IsShrinkSealed"/>) does not need it.
/// </para>
/// </summary>
public sealed unsafe class MemoryMapping : SafeHandle
{
    private readonly nuint _mappedLength;
    private readonly nint _slack;

    private MemoryMapping(nint baseAddress, nuint mappedLength, nint slack, ulong length, bool writable, bool faultChecked)
        : base(nint.Zero, ownsHandle: true)
    {
        SetHandle(baseAddress);
        _mappedLength = mappedLength;
        _slack = slack;
        Length = length;
        Writable = writable;
        FaultChecked = faultChecked;
    }

    /// <summary>Bytes the caller can reach, from offset 0 (the length asked of <see cref="Map"/>, without the page slack).</summary>
    public ulong Length { get; }

    /// <summary>Whether the pages are mapped PROT_WRITE; writes to a mapping without it return <see cref="MappingCopy.ReadOnly"/>.</summary>
    public bool Writable { get; }

    /// <summary>Copies go through the kernel and report faults instead of raising SIGBUS (see the type's remarks).</summary>
    public bool FaultChecked { get; }

    /// <summary>True only for a mapping that was never made; a live mapping is valid until disposed.</summary>
    public override bool IsInvalid => handle == nint.Zero || handle == -1;

    /// <summary>
    /// Maps <paramref name="length"/> bytes of <paramref name="fd"/> at <paramref name="offset"/> (any offset: the
    /// page alignment is done here), MAP_SHARED, readable and, if <paramref name="writable"/>, writable. The mapping
    /// does not keep <paramref name="fd"/>: the caller may close it at once. Throws
    /// <see cref="ArgumentOutOfRangeException"/> for a zero length or an offset or length beyond off_t, and
    /// <see cref="IOException"/> when mmap fails (EACCES for a writable mapping of a read-only fd, ENODEV, ENOMEM).
    /// </summary>
    public static MemoryMapping Map(SafeHandle fd, ulong offset, ulong length, bool writable, bool faultChecked = false)
    {
        if (length == 0 || length > long.MaxValue || offset > long.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "mapping length must be non-zero and offset/length must fit in off_t");
        }

        ulong page = (ulong)Environment.SystemPageSize;
        ulong alignedOffset = offset & ~(page - 1);
        ulong slack = offset - alignedOffset;
        if (length > ulong.MaxValue - slack)
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }

        nuint mapLength = (nuint)(length + slack);
        int prot = Libc.PROT_READ | (writable ? Libc.PROT_WRITE : 0);
        nint p = Libc.mmap(0, mapLength, prot, Libc.MAP_SHARED, fd, (long)alignedOffset);
        if (p == -1)
        {
            throw new IOException($"mmap(len={mapLength}, off=0x{alignedOffset:x}) failed: {Errno.Name(Libc.LastErrno)}");
        }

        return new MemoryMapping(p, mapLength, (nint)slack, length, writable, faultChecked);
    }

    /// <summary>
    /// Copies <paramref name="destination"/>.Length bytes from <paramref name="offset"/> of the mapping. Safe against
    /// a concurrent <see cref="SafeHandle.Dispose()"/>: the memory stays mapped until the copy is done (a disposed
    /// mapping throws <see cref="ObjectDisposedException"/>).
    /// </summary>
    public MappingCopy Read(ulong offset, Span<byte> destination)
    {
        if (!InRange(offset, (ulong)destination.Length))
        {
            return MappingCopy.OutOfRange;
        }

        bool added = false;
        DangerousAddRef(ref added);
        try
        {
            byte* at = (byte*)(handle + _slack) + offset;
            if (FaultChecked)
            {
                fixed (byte* local = destination)
                {
                    return KernelCopy(local, at, destination.Length, toMapping: false);
                }
            }

            new ReadOnlySpan<byte>(at, destination.Length).CopyTo(destination);
            return MappingCopy.Ok;
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="offset"/> of the mapping; concurrency as <see cref="Read"/>.</summary>
    public MappingCopy Write(ulong offset, ReadOnlySpan<byte> source)
    {
        if (!InRange(offset, (ulong)source.Length))
        {
            return MappingCopy.OutOfRange;
        }

        if (!Writable)
        {
            return MappingCopy.ReadOnly;
        }

        bool added = false;
        DangerousAddRef(ref added);
        try
        {
            byte* at = (byte*)(handle + _slack) + offset;
            if (FaultChecked)
            {
                fixed (byte* local = source)
                {
                    return KernelCopy(local, at, source.Length, toMapping: true);
                }
            }

            source.CopyTo(new Span<byte>(at, source.Length));
            return MappingCopy.Ok;
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>Copies out of the mapping. False when the range is outside it or a page faulted.</summary>
    public bool TryRead(ulong offset, Span<byte> destination) => Read(offset, destination) == MappingCopy.Ok;

    /// <summary>Copies into the mapping. False when the range is outside it, the mapping is read-only or a page faulted.</summary>
    public bool TryWrite(ulong offset, ReadOnlySpan<byte> source) => Write(offset, source) == MappingCopy.Ok;

    /// <summary>
    /// Runs <paramref name="action"/> over a span of the mapping while holding a reference, for callers that
    /// need in-place access (vectorised copies). The span must not escape the callback. Refused (false) on a
    /// fault-checked mapping, whose pages may not be touched directly.
    /// </summary>
    public bool TryAccess<TState>(ulong offset, int length, TState state, SpanAction<byte, TState> action)
    {
        if (FaultChecked || !InRange(offset, (ulong)length))
        {
            return false;
        }

        bool added = false;
        DangerousAddRef(ref added);
        try
        {
            action(new Span<byte>((byte*)(handle + _slack) + offset, length), state);
            return true;
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>
    /// Pins the mapping for direct loads and stores by a caller that bounds-checks every access itself against
    /// <see cref="Length"/> (the DMA table, which validates each range once): the pages stay mapped until the matching
    /// <see cref="Unpin"/>, even if this object is disposed meanwhile. Refused (false) on a fault-checked mapping, whose
    /// pages may not be touched directly. Saves the reference count per copy that <see cref="Read"/> and
    /// <see cref="Write"/> pay.
    /// </summary>
    public bool TryPin(out nint address)
    {
        address = 0;
        if (FaultChecked)
        {
            return false;
        }

        bool added = false;
        DangerousAddRef(ref added);
        address = handle + _slack;
        return true;
    }

    /// <summary>Ends a <see cref="TryPin"/>: the last release after <see cref="SafeHandle.Dispose()"/> unmaps.</summary>
    public void Unpin() => DangerousRelease();

    private static MappingCopy KernelCopy(byte* local, byte* mapped, int length, bool toMapping)
    {
        if (length == 0)
        {
            return MappingCopy.Ok;
        }

        var localVec = new iovec { iov_base = local, iov_len = (nuint)length };
        var mappedVec = new iovec { iov_base = mapped, iov_len = (nuint)length };
        nint moved = toMapping
            ? Libc.process_vm_writev(Environment.ProcessId, &localVec, 1, &mappedVec, 1, 0)
            : Libc.process_vm_readv(Environment.ProcessId, &localVec, 1, &mappedVec, 1, 0);

        // A short count or EFAULT means a page could not be reached; nothing else fails on our own, valid range.
        return moved == length ? MappingCopy.Ok : MappingCopy.Fault;
    }

    private bool InRange(ulong offset, ulong count) => offset <= Length && count <= Length - offset;

    /// <summary>Unmaps the pages; runs once, after the last copy in progress released its reference.</summary>
    protected override bool ReleaseHandle() => Libc.munmap(handle, _mappedLength) == 0;
}

/// <summary>
/// A callback over a span and caller state (System.Buffers.SpanAction without the dependency); see
/// <see cref="MemoryMapping.TryAccess"/>.
/// </summary>
/// <typeparam name="T">The span's element type.</typeparam>
/// <typeparam name="TState">The caller's state, passed through so the callback can be static.</typeparam>
/// <param name="span">The memory; valid only during the call.</param>
/// <param name="state">The state the caller passed.</param>
public delegate void SpanAction<T, in TState>(Span<T> span, TState state);
