using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>
/// DMA_MAP request payload (struct vfio_user_dma_map): makes [<paramref name="Address"/>, +<paramref name="Size"/>) of
/// the device's DMA address space reachable. With an fd, the memory is that file from <paramref name="Offset"/> (the
/// server may mmap it); without, the server reaches it only by DMA_READ/DMA_WRITE messages to the client.
/// </summary>
/// <param name="Argsz">Payload bytes; at least <see cref="Length"/>.</param>
/// <param name="Flags"><see cref="VfioConstants.DmaMapFlagRead"/> and/or <see cref="VfioConstants.DmaMapFlagWrite"/>: what the device may do.</param>
/// <param name="Offset">Byte offset into the fd where the range starts (0 without an fd).</param>
/// <param name="Address">First IOVA (bus address) of the range.</param>
/// <param name="Size">Length of the range in bytes.</param>
public readonly record struct DmaMapRequest(uint Argsz, uint Flags, ulong Offset, ulong Address, ulong Size)
{
    /// <summary>Bytes on the wire: sizeof(struct vfio_user_dma_map).</summary>
    public const int Length = 32;

    /// <summary>Decodes the first <see cref="Length"/> bytes of <paramref name="s"/>; false (and default) when there are fewer. Fields are not validated.</summary>
    public static bool TryRead(ReadOnlySpan<byte> s, out DmaMapRequest value)
    {
        value = default;
        if (s.Length < Length)
        {
            return false;
        }

        value = new DmaMapRequest(
            BinaryPrimitives.ReadUInt32LittleEndian(s),
            BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[24..]));
        return true;
    }

    /// <summary>Encodes the <see cref="Length"/> bytes at the start of <paramref name="d"/>; throws <see cref="ArgumentOutOfRangeException"/> when it is shorter.</summary>
    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, Argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(d[8..], Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(d[16..], Address);
        BinaryPrimitives.WriteUInt64LittleEndian(d[24..], Size);
    }
}
