using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>DEVICE_GET_IRQ_INFO request and reply payload (struct vfio_irq_info).</summary>
/// <param name="Argsz">Request: the reply size the client accepts (at least <see cref="Length"/>). Reply: the size written.</param>
/// <param name="Flags">Reply: IrqInfo* flags of <see cref="VfioConstants"/> (eventfd-capable, maskable, automasked, no-resize).</param>
/// <param name="Index">The IRQ index asked about (0 INTx, 1 MSI, 2 MSI-X, 3 ERR, 4 REQ).</param>
/// <param name="Count">Reply: vectors the index has (0 when the device does not implement it).</param>
public readonly record struct IrqInfo(uint Argsz, uint Flags, uint Index, uint Count)
{
    /// <summary>Bytes on the wire: sizeof(struct vfio_irq_info).</summary>
    public const int Length = 16;

    /// <summary>Decodes the first <see cref="Length"/> bytes of <paramref name="s"/>; false (and default) when there are fewer. Fields are not validated.</summary>
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

    /// <summary>Encodes the <see cref="Length"/> bytes at the start of <paramref name="d"/>; throws <see cref="ArgumentOutOfRangeException"/> when it is shorter.</summary>
    public void WriteTo(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, Argsz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Index);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Count);
    }
}
