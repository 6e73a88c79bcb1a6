using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>
/// REGION_READ/REGION_WRITE head (struct vfio_user_region_access without data): an access of
/// <paramref name="Count"/> bytes at <paramref name="Offset"/> of region <paramref name="Region"/>. The data follows in
/// a write request and in a read reply; a write reply is the head alone.
/// </summary>
/// <param name="Offset">Byte offset within the region.</param>
/// <param name="Region">Region index (<see cref="VfioRegion"/>).</param>
/// <param name="Count">Bytes to access; at most the negotiated max_data_xfer_size.</param>
public readonly record struct RegionAccess(ulong Offset, uint Region, uint Count)
{
    /// <summary>Bytes of the head on the wire; the data follows.</summary>
    public const int Length = 16;

    /// <summary>Decodes the first <see cref="Length"/> bytes of <paramref name="s"/>; false (and default) when there are fewer. Fields are not validated.</summary>
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

    /// <summary>Encodes the <see cref="Length"/> bytes at the start of <paramref name="d"/>; throws <see cref="ArgumentOutOfRangeException"/> when it is shorter.</summary>
    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(d, Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Region);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Count);
    }
}

/// <summary>
/// One entry of REGION_WRITE_MULTI (struct vfio_user_write_multi_data): a posted write of up to <see cref="MaxData"/>
/// bytes, which QEMU sends when write_multiple was negotiated. The request has a u64 entry count, then the entries.
/// </summary>
/// <param name="Offset">Byte offset within the region.</param>
/// <param name="Region">Region index (<see cref="VfioRegion"/>).</param>
/// <param name="Count">Bytes to write, 1..<see cref="MaxData"/>.</param>
/// <param name="Data">The bytes, little-endian: the first <paramref name="Count"/> bytes of this u64 are written.</param>
public readonly record struct RegionWriteMultiEntry(ulong Offset, uint Region, uint Count, ulong Data)
{
    /// <summary>Bytes per entry on the wire: sizeof(struct vfio_user_write_multi_data).</summary>
    public const int Length = 24;

    /// <summary>Most entries one REGION_WRITE_MULTI may carry (VFIO_USER_MULTI_MAX).</summary>
    public const int MaxEntries = 200;

    /// <summary>Most data bytes per entry (VFIO_USER_MULTI_DATA); the data field is always 8 bytes, unused ones ignored.</summary>
    public const int MaxData = 8;

    /// <summary>Decodes the first <see cref="Length"/> bytes of <paramref name="s"/>; false (and default) when there are fewer. Fields are not validated.</summary>
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

    /// <summary>Encodes the <see cref="Length"/> bytes at the start of <paramref name="d"/>; throws <see cref="ArgumentOutOfRangeException"/> when it is shorter.</summary>
    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(d, Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Region);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Count);
        BinaryPrimitives.WriteUInt64LittleEndian(d[16..], Data);
    }
}
