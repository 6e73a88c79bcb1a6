using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>
/// DEVICE_SET_IRQS request head (struct vfio_irq_set without its data): one action on vectors
/// [<paramref name="Start"/>, +<paramref name="Count"/>) of IRQ index <paramref name="Index"/>. The data that follows
/// depends on <see cref="DataType"/>: nothing, one byte per vector (BOOL), or one fd per vector (EVENTFD, in the
/// message's SCM_RIGHTS).
/// </summary>
/// <param name="Argsz">Payload bytes, head and data.</param>
/// <param name="Flags">One IrqSetData* and one IrqSetAction* flag of <see cref="VfioConstants"/>.</param>
/// <param name="Index">The IRQ index (0 INTx, 1 MSI, 2 MSI-X, 3 ERR, 4 REQ).</param>
/// <param name="Start">First vector.</param>
/// <param name="Count">Vectors affected; 0 (with DATA_NONE, ACTION_TRIGGER and start 0) disables the whole index.</param>
public readonly record struct IrqSet(uint Argsz, uint Flags, uint Index, uint Start, uint Count)
{
    /// <summary>Bytes of the head on the wire; the data follows.</summary>
    public const int Length = 20;

    /// <summary>The IrqSetData* bits of <see cref="Flags"/> (exactly one is set in a valid request).</summary>
    public uint DataType => Flags & VfioConstants.IrqSetDataTypeMask;

    /// <summary>The IrqSetAction* bits of <see cref="Flags"/> (exactly one is set in a valid request).</summary>
    public uint Action => Flags & VfioConstants.IrqSetActionTypeMask;

    /// <summary>Decodes the first <see cref="Length"/> bytes of <paramref name="s"/>; false (and default) when there are fewer. Fields are not validated.</summary>
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

    /// <summary>Encodes the <see cref="Length"/> bytes at the start of <paramref name="d"/>; throws <see cref="ArgumentOutOfRangeException"/> when it is shorter.</summary>
    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, Argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Index);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Start);
        BinaryPrimitives.WriteUInt32LittleEndian(d[16..], Count);
    }
}
