using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

/// <summary>
/// An mmap(2) of a file descriptor, owned by a SafeHandle so the unmap can never run under an active copy:
/// every access brackets the pointer use with DangerousAddRef/DangerousRelease. The offset is page-aligned
/// internally; the slack is hidden, so offset 0 of this object is the caller's offset in the file.
/// </summary>
public sealed unsafe class MemoryMapping : SafeHandle
{
    private readonly nuint _mappedLength;
    private readonly nint _slack;

    private MemoryMapping(nint baseAddress, nuint mappedLength, nint slack, ulong length, bool writable)
        : base(nint.Zero, ownsHandle: true)
    {
        SetHandle(baseAddress);
        _mappedLength = mappedLength;
        _slack = slack;
        Length = length;
        Writable = writable;
    }

    public ulong Length { get; }

    public bool Writable { get; }

    public override bool IsInvalid => handle == nint.Zero || handle == -1;

    /// <summary>Maps <paramref name="length"/> bytes of <paramref name="fd"/> at <paramref name="offset"/>, MAP_SHARED.</summary>
    public static MemoryMapping Map(SafeHandle fd, ulong offset, ulong length, bool writable)
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

        return new MemoryMapping(p, mapLength, (nint)slack, length, writable);
    }

    /// <summary>Copies out of the mapping. False when the range is outside it (nothing copied).</summary>
    public bool TryRead(ulong offset, Span<byte> destination)
    {
        if (!InRange(offset, (ulong)destination.Length))
        {
            return false;
        }

        bool added = false;
        DangerousAddRef(ref added);
        try
        {
            new ReadOnlySpan<byte>((byte*)(handle + _slack) + offset, destination.Length).CopyTo(destination);
            return true;
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>Copies into the mapping. False when the range is outside it or the mapping is read-only.</summary>
    public bool TryWrite(ulong offset, ReadOnlySpan<byte> source)
    {
        if (!Writable || !InRange(offset, (ulong)source.Length))
        {
            return false;
        }

        bool added = false;
        DangerousAddRef(ref added);
        try
        {
            source.CopyTo(new Span<byte>((byte*)(handle + _slack) + offset, source.Length));
            return true;
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> over a span of the mapping while holding a reference, for callers that
    /// need in-place access (vectorised copies). The span must not escape the callback.
    /// </summary>
    public bool TryAccess<TState>(ulong offset, int length, TState state, SpanAction<byte, TState> action)
    {
        if (!InRange(offset, (ulong)length))
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

    private bool InRange(ulong offset, ulong count) => offset <= Length && count <= Length - offset;

    protected override bool ReleaseHandle() => Libc.munmap(handle, _mappedLength) == 0;
}

/// <summary>A callback over a span and caller state (System.Buffers.SpanAction without the dependency).</summary>
public delegate void SpanAction<T, in TState>(Span<T> span, TState state);
