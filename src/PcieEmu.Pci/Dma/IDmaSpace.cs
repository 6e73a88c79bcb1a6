using System.Buffers.Binary;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// What a device sees of the bus for DMA: reads and writes at bus addresses, each returning a
/// <see cref="DmaResult"/>. The function's implementation gates everything on Bus Master Enable and refuses
/// ranges inside its own BARs. Never call it while holding the function lock (message DMA may wait on the
/// thread that needs that lock).
/// </summary>
public interface IDmaSpace
{
    /// <summary>
    /// A device read of guest memory at bus address <paramref name="address"/> into <paramref name="destination"/>.
    /// The whole range is checked before any byte moves; anything but <see cref="DmaResult.Ok"/> says why nothing (or,
    /// when an unmap or the client cut it short, not all) arrived. May wait on the client (message DMA).
    /// </summary>
    DmaResult Read(ulong address, Span<byte> destination);

    /// <summary>A device write of <paramref name="source"/> into guest memory at <paramref name="address"/>; checked like <see cref="Read"/>.</summary>
    DmaResult Write(ulong address, ReadOnlySpan<byte> source);

    /// <summary>
    /// A read that never needs the client: allowed on any thread, even under the function lock (it is how a
    /// register side effect may inspect guest memory). <see cref="DmaResult.WouldBlock"/> when the range is
    /// reachable only through message DMA; then retry with <see cref="Read"/> off the bus thread.
    /// </summary>
    DmaResult ReadLocal(ulong address, Span<byte> destination);

    /// <summary>Validates a range for a direction without moving data (a table lookup: allowed under the lock).</summary>
    DmaResult Check(ulong address, ulong length, DmaAccess access);

    /// <summary>
    /// Where a transfer over the range would fault: the first address a <see cref="Check"/> of it would refuse (the
    /// address itself when bus mastering is off), or null when the whole range passes now. For error reports: it
    /// names the first bad IOVA, as an IOMMU fault record does. A table lookup: allowed under the lock.
    /// </summary>
    ulong? FirstFault(ulong address, ulong length, DmaAccess access);
}

/// <summary>Little-endian typed loads and stores (descriptor fields, positions).</summary>
public static class DmaSpaceExtensions
{
    /// <summary>Reads a little-endian 32-bit value; <paramref name="value"/> is 0 unless the result is <see cref="DmaResult.Ok"/>.</summary>
    public static DmaResult ReadUInt32(this IDmaSpace dma, ulong address, out uint value)
    {
        Span<byte> b = stackalloc byte[4];
        var r = dma.Read(address, b);
        value = r == DmaResult.Ok ? BinaryPrimitives.ReadUInt32LittleEndian(b) : 0;
        return r;
    }

    /// <summary>Reads a little-endian 64-bit value; <paramref name="value"/> is 0 unless the result is <see cref="DmaResult.Ok"/>.</summary>
    public static DmaResult ReadUInt64(this IDmaSpace dma, ulong address, out ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        var r = dma.Read(address, b);
        value = r == DmaResult.Ok ? BinaryPrimitives.ReadUInt64LittleEndian(b) : 0;
        return r;
    }

    /// <summary>Writes <paramref name="value"/> as a little-endian 32-bit value.</summary>
    public static DmaResult WriteUInt32(this IDmaSpace dma, ulong address, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return dma.Write(address, b);
    }

    /// <summary>Writes <paramref name="value"/> as a little-endian 64-bit value.</summary>
    public static DmaResult WriteUInt64(this IDmaSpace dma, ulong address, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        return dma.Write(address, b);
    }
}
