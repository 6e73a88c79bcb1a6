using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>REGION_READ/REGION_WRITE head: offset, region index, count. Data follows in writes and read replies.</summary>
public readonly record struct RegionAccess(ulong Offset, uint Region, uint Count)
{
    public const int Length = 16;

    public static bool TryRead(ReadOnlySpan<byte> s, out RegionAccess value)
    {
        value = default;
        if (s.Length < Length)
        {
            return false;
        }

        value = new RegionAccess(
            BinaryPrimitives.ReadUInt64LittleEndian(s),
            BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[12..]));
        return true;
    }

    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(d, Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Region);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Count);
    }
}

/// <summary>One entry of REGION_WRITE_MULTI: a posted write of up to 8 bytes.</summary>
public readonly record struct RegionWriteMultiEntry(ulong Offset, uint Region, uint Count, ulong Data)
{
    public const int Length = 24;
    public const int MaxEntries = 200;
    public const int MaxData = 8;

    public static bool TryRead(ReadOnlySpan<byte> s, out RegionWriteMultiEntry value)
    {
        value = default;
        if (s.Length < Length)
        {
            return false;
        }

        value = new RegionWriteMultiEntry(
            BinaryPrimitives.ReadUInt64LittleEndian(s),
            BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[12..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[16..]));
        return true;
    }

    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(d, Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Region);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Count);
        BinaryPrimitives.WriteUInt64LittleEndian(d[16..], Data);
    }
}
