using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>DEVICE_GET_INFO payload: argsz, flags (RESET, PCI), number of regions and of IRQ types.</summary>
public readonly record struct DeviceInfo(uint Argsz, uint Flags, uint NumRegions, uint NumIrqs)
{
    public const int Length = 16;

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

    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, Argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], NumRegions);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], NumIrqs);
    }
}
