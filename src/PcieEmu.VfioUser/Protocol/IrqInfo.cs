using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>DEVICE_GET_IRQ_INFO payload (struct vfio_irq_info).</summary>
public readonly record struct IrqInfo(uint Argsz, uint Flags, uint Index, uint Count)
{
    public const int Length = 16;

    public static bool TryRead(ReadOnlySpan<byte> s, out IrqInfo value)
    {
        value = default;
        if (s.Length < Length)
        {
            return false;
        }

        value = new IrqInfo(
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
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Index);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Count);
    }
}
