namespace PcieEmu.VfioUser.Client;

/// <summary>
/// What server→client DMA_READ/DMA_WRITE reach on the client side: in QEMU, the guest's address space.
/// Each method returns 0 or a positive errno, sent back to the server (QEMU uses EFAULT, ENODEV and EPERM).
/// Called on the thread that uses the <see cref="VfioUserClient"/>, while it waits for a reply or serves requests.
/// </summary>
public interface IGuestMemory
{
    /// <summary>
    /// Fills <paramref name="destination"/> from bus address <paramref name="address"/> (a server's DMA_READ).
    /// 0, or an errno when any byte of the range is not readable; a failed read returns no data.
    /// </summary>
    int Read(ulong address, Span<byte> destination);

    /// <summary>Stores <paramref name="source"/> at bus address <paramref name="address"/> (a server's DMA_WRITE). 0 or an errno.</summary>
    int Write(ulong address, ReadOnlySpan<byte> source);
}

/// <summary>
/// A byte array standing in for guest memory at <paramref name="baseAddress"/> (tests, benchmarks): byte i of
/// <paramref name="memory"/> is bus address baseAddress + i. Accesses outside it get EFAULT; writes to a
/// <paramref name="readOnly"/> one get EPERM. Thread-safe.
/// </summary>
public sealed class ArrayGuestMemory(ulong baseAddress, byte[] memory, bool readOnly = false) : IGuestMemory
{
    private readonly object _sync = new();
    private long _reads;
    private long _writes;

    /// <summary>The bus address of <see cref="Memory"/>[0].</summary>
    public ulong BaseAddress { get; } = baseAddress;

    /// <summary>The array itself, shared: tests fill and inspect it directly (not under the accesses' lock).</summary>
    public byte[] Memory { get; } = memory;

    /// <summary>Whether server writes are refused (EPERM).</summary>
    public bool ReadOnly { get; } = readOnly;

    /// <summary>Successful reads so far.</summary>
    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>Successful writes so far.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <inheritdoc/>
    public int Read(ulong address, Span<byte> destination)
    {
        if (!TryOffset(address, destination.Length, out int offset))
        {
            return Interop.Errno.EFAULT;
        }

        lock (_sync)
        {
            Memory.AsSpan(offset, destination.Length).CopyTo(destination);
        }

        Interlocked.Increment(ref _reads);
        return 0;
    }

    /// <inheritdoc/>
    public int Write(ulong address, ReadOnlySpan<byte> source)
    {
        if (!TryOffset(address, source.Length, out int offset))
        {
            return Interop.Errno.EFAULT;
        }

        if (ReadOnly)
        {
            return Interop.Errno.EPERM;
        }

        lock (_sync)
        {
            source.CopyTo(Memory.AsSpan(offset, source.Length));
        }

        Interlocked.Increment(ref _writes);
        return 0;
    }

    private bool TryOffset(ulong address, int length, out int offset)
    {
        offset = 0;
        if (address < BaseAddress)
        {
            return false;
        }

        ulong rel = address - BaseAddress;
        if (rel > (ulong)Memory.Length || (ulong)length > (ulong)Memory.Length - rel)
        {
            return false;
        }

        offset = (int)rel;
        return true;
    }
}
