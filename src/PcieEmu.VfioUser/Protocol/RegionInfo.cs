using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>
/// DEVICE_GET_REGION_INFO request and reply payload (struct vfio_region_info). A capability chain (the mmappable
/// areas, <see cref="SparseMmapCapability"/>) may follow in the reply; when the request's
/// <paramref name="Argsz"/> is too small for it, the reply carries no chain and its Argsz says how much to ask for.
/// </summary>
/// <param name="Argsz">Request: the reply size the client accepts. Reply: the size the full reply needs.</param>
/// <param name="Flags">Reply: RegionInfoFlag* bits of <see cref="VfioConstants"/> (read, write, mmap, caps).</param>
/// <param name="Index">The region (<see cref="VfioRegion"/>).</param>
/// <param name="CapOffset">Reply: offset of the first capability from the start of this struct, 0 for none.</param>
/// <param name="Size">Reply: region size in bytes (0 for a region the device does not have).</param>
/// <param name="Offset">Reply: where the region starts in the fd sent with the reply, for mmap (0 here).</param>
public readonly record struct RegionInfo(uint Argsz, uint Flags, uint Index, uint CapOffset, ulong Size, ulong Offset)
{
    /// <summary>Bytes on the wire, without capabilities: sizeof(struct vfio_region_info).</summary>
    public const int Length = 32;

    /// <summary>Decodes the first <see cref="Length"/> bytes of <paramref name="s"/>; false (and default) when there are fewer. Fields are not validated.</summary>
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

    /// <summary>Encodes the <see cref="Length"/> bytes at the start of <paramref name="d"/>; throws <see cref="ArgumentOutOfRangeException"/> when it is shorter.</summary>
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

/// <summary>
/// VFIO_REGION_INFO_CAP_SPARSE_MMAP (id 1, version 1) of a region info reply: which parts of a region the client may
/// mmap from the fd the reply carries. Layout: cap header (id, version, next), nr_areas, reserved, then one
/// {offset, size} pair per area.
/// </summary>
public static class SparseMmapCapability
{
    /// <summary>Bytes before the first area: the 8-byte capability header, nr_areas and a reserved u32.</summary>
    public const int HeaderLength = 16;

    /// <summary>Bytes per area: offset and size, both u64.</summary>
    public const int AreaLength = 16;

    /// <summary>Bytes of the capability with <paramref name="areas"/> areas.</summary>
    public static int LengthFor(int areas) => HeaderLength + (AreaLength * areas);

    /// <summary>
    /// Encodes the capability at the start of <paramref name="d"/>, which must hold <see cref="LengthFor"/>(areas.Length)
    /// bytes (else <see cref="ArgumentOutOfRangeException"/>). <paramref name="next"/> is the offset of the next
    /// capability in the reply, 0 for the last; areas are offsets and sizes in bytes within the region.
    /// </summary>
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
