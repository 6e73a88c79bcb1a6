using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>DMA_MAP payload: argsz, flags (READ/WRITE), offset into the fd, IOVA, size. 0 or 1 fd.</summary>
public readonly record struct DmaMapRequest(uint Argsz, uint Flags, ulong Offset, ulong Address, ulong Size)
{
    public const int Length = 32;

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

    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, Argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(d[8..], Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(d[16..], Address);
        BinaryPrimitives.WriteUInt64LittleEndian(d[24..], Size);
    }
}
