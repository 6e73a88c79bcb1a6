using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>DEVICE_GET_REGION_INFO payload (struct vfio_region_info); a capability chain may follow in the reply.</summary>
public readonly record struct RegionInfo(uint Argsz, uint Flags, uint Index, uint CapOffset, ulong Size, ulong Offset)
{
    public const int Length = 32;

    public static bool TryRead(ReadOnlySpan<byte> s, out RegionInfo value)
    {
        value = default;
        if (s.Length < Length)
        {
            return false;
        }

        value = new RegionInfo(
            BinaryPrimitives.ReadUInt32LittleEndian(s),
            BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[12..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[24..]));
        return true;
    }

    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, Argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Index);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], CapOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(d[16..], Size);
        BinaryPrimitives.WriteUInt64LittleEndian(d[24..], Offset);
    }
}

/// <summary>VFIO_REGION_INFO_CAP_SPARSE_MMAP (id 1, version 1): header, nr_areas, then {offset, size} pairs.</summary>
public static class SparseMmapCapability
{
    public const int HeaderLength = 16; // cap header (8) + nr_areas + reserved
    public const int AreaLength = 16;

    public static int LengthFor(int areas) => HeaderLength + (AreaLength * areas);

    public static void Write(Span<byte> d, uint next, ReadOnlySpan<(ulong Offset, ulong Size)> areas)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(d, VfioConstants.RegionInfoCapSparseMmap);
        BinaryPrimitives.WriteUInt16LittleEndian(d[2..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], next);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], (uint)areas.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], 0);
        for (int i = 0; i < areas.Length; i++)
        {
            var a = d[(HeaderLength + (i * AreaLength))..];
            BinaryPrimitives.WriteUInt64LittleEndian(a, areas[i].Offset);
            BinaryPrimitives.WriteUInt64LittleEndian(a[8..], areas[i].Size);
        }
    }
}
