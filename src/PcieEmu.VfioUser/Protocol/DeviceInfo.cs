using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>DEVICE_GET_INFO request and reply payload (struct vfio_device_info).</summary>
/// <param name="Argsz">Request: the reply size the client accepts (at least <see cref="Length"/>). Reply: the size written.</param>
/// <param name="Flags"><see cref="VfioConstants.DeviceFlagsReset"/> | <see cref="VfioConstants.DeviceFlagsPci"/> in a PCI device's reply.</param>
/// <param name="NumRegions">Region indices the device has (<see cref="VfioRegion.Count"/> for PCI: six BARs, ROM, config, VGA).</param>
/// <param name="NumIrqs">IRQ indices the device has (INTx, MSI, MSI-X, ERR, REQ for PCI).</param>
public readonly record struct DeviceInfo(uint Argsz, uint Flags, uint NumRegions, uint NumIrqs)
{
    /// <summary>Bytes on the wire: sizeof(struct vfio_device_info).</summary>
    public const int Length = 16;

    /// <summary>Decodes the first <see cref="Length"/> bytes of <paramref name="s"/>; false (and default) when there are fewer. Fields are not validated.</summary>
    public static bool TryRead(ReadOnlySpan<byte> s, out DeviceInfo value)
    {
        value = default;
        if (s.Length < Length)
        {
            return false;
        }

        value = new DeviceInfo(
            BinaryPrimitives.ReadUInt32LittleEndian(s),
            BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[12..]));
        return true;
    }

    /// <summary>Encodes the <see cref="Length"/> bytes at the start of <paramref name="d"/>; throws <see cref="ArgumentOutOfRangeException"/> when it is shorter.</summary>
    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, Argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], NumRegions);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], NumIrqs);
    }
}
