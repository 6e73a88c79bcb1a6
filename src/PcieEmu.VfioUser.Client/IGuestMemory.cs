namespace PcieEmu.VfioUser.Client;

/// <summary>
/// What server→client DMA_READ/DMA_WRITE reach on the client side: in QEMU, the guest's address space.
/// Each method returns 0 or a positive errno, sent back to the server (QEMU uses EFAULT, ENODEV and EPERM).
/// </summary>
public interface IGuestMemory
{
    int Read(ulong address, Span<byte> destination);

    int Write(ulong address, ReadOnlySpan<byte> source);
}

/// <summary>A byte array standing in for guest memory at <paramref name="baseAddress"/> (tests, benchmarks).</summary>
public sealed class ArrayGuestMemory(ulong baseAddress, byte[] memory, bool readOnly = false) : IGuestMemory
{
    private readonly object _sync = new();
    private long _reads;
    private long _writes;

    public ulong BaseAddress { get; } = baseAddress;

    public byte[] Memory { get; } = memory;

    public bool ReadOnly { get; } = readOnly;

    public long Reads => Interlocked.Read(ref _reads);

    public long Writes => Interlocked.Read(ref _writes);

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
