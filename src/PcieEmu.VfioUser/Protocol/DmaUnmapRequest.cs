using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>DMA_UNMAP request payload (struct vfio_user_dma_unmap), and its reply, which echoes it.</summary>
/// <param name="Argsz">Payload bytes; at least <see cref="Length"/>.</param>
/// <param name="Flags"><see cref="VfioConstants.DmaUnmapFlagAll"/> to drop every mapping (address and size 0); dirty-page bitmaps (<see cref="VfioConstants.DmaUnmapFlagGetDirtyBitmap"/>) are not supported by this server.</param>
/// <param name="Address">First IOVA of the range to unmap: every mapping inside the range goes (VFIO type1 rules), and a
/// range that cuts through a mapping is refused.</param>
/// <param name="Size">Length of the range in bytes.</param>
public readonly record struct DmaUnmapRequest(uint Argsz, uint Flags, ulong Address, ulong Size)
{
    /// <summary>Bytes on the wire: sizeof(struct vfio_user_dma_unmap) without a bitmap.</summary>
    public const int Length = 24;

    /// <summary>Decodes the first <see cref="Length"/> bytes of <paramref name="s"/>; false (and default) when there are fewer. Fields are not validated.</summary>
    public static bool TryRead(ReadOnlySpan<byte> s, out DmaUnmapRequest value)
    {
        value = default;
        if (s.Length < Length)
        {
            return false;
        }

        value = new DmaUnmapRequest(
            BinaryPrimitives.ReadUInt32LittleEndian(s),
            BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[16..]));
        return true;
    }

    /// <summary>Encodes the <see cref="Length"/> bytes at the start of <paramref name="d"/>; throws <see cref="ArgumentOutOfRangeException"/> when it is shorter.</summary>
    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, Argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(d[8..], Address);
        BinaryPrimitives.WriteUInt64LittleEndian(d[16..], Size);
    }
}
