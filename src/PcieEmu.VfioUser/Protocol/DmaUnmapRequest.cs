using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>DMA_UNMAP payload (and its reply, which echoes it): argsz, flags, IOVA, size.</summary>
public readonly record struct DmaUnmapRequest(uint Argsz, uint Flags, ulong Address, ulong Size)
{
    public const int Length = 24;

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

    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, Argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(d[8..], Address);
        BinaryPrimitives.WriteUInt64LittleEndian(d[16..], Size);
    }
}
