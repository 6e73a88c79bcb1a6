using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>DEVICE_SET_IRQS head (struct vfio_irq_set without data): argsz, flags, index, start, count.</summary>
public readonly record struct IrqSet(uint Argsz, uint Flags, uint Index, uint Start, uint Count)
{
    public const int Length = 20;

    public uint DataType => Flags & VfioConstants.IrqSetDataTypeMask;

    public uint Action => Flags & VfioConstants.IrqSetActionTypeMask;

    public static bool TryRead(ReadOnlySpan<byte> s, out IrqSet value)
    {
        value = default;
        if (s.Length < Length)
        {
            return false;
        }

        value = new IrqSet(
            BinaryPrimitives.ReadUInt32LittleEndian(s),
            BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[12..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[16..]));
        return true;
    }

    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, Argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Index);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Start);
        BinaryPrimitives.WriteUInt32LittleEndian(d[16..], Count);
    }
}
