using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>
/// Server→client DMA_READ/DMA_WRITE framing. Two layouts exist:
/// <list type="bullet">
/// <item><see cref="DmaMessageLayout.Qemu"/>: QEMU's unpacked <c>VFIOUserDMARW</c> — address u64 at payload 0,
/// count u32 at 8, data at payload 12 (message byte 28), <c>sizeof</c> = 32 so a message is 32 + count bytes;
/// QEMU answers DMA_WRITE with a bare header. Verified against QEMU 11.1 by the integration tests.</item>
/// <item><see cref="DmaMessageLayout.Spec"/>: the spec's address u64, count u64, data at payload 16; the
/// DMA_WRITE reply echoes address and count.</item>
/// </list>
/// </summary>
public enum DmaMessageLayout
{
    Qemu,
    Spec,
}

public static class DmaTransfer
{
    /// <summary>Byte offset of the data from the start of the message.</summary>
    public static int DataOffset(DmaMessageLayout layout) => 32;

    /// <summary>Size of a request message (and of a DMA_READ reply) carrying <paramref name="count"/> data bytes.</summary>
    /// <remarks>Both layouts come to 32 + count: QEMU's by struct padding (data at 28, 4 bytes of tail), the spec's exactly.</remarks>
    public static int MessageSize(int count, bool withData) => 32 + (withData ? count : 0);

    public static void WriteHead(DmaMessageLayout layout, Span<byte> payload, ulong address, int count)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(payload, address);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[8..], (ulong)count);
    }

    public static bool TryReadHead(DmaMessageLayout layout, ReadOnlySpan<byte> payload, out ulong address, out ulong count)
    {
        address = count = 0;
        if (payload.Length < 16)
        {
            return false;
        }

        address = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        count = BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]);
        return true;
    }
}
