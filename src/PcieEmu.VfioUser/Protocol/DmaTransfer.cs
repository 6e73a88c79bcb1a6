using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>
/// Server→client DMA_READ/DMA_WRITE framing: address u64 at payload 0, count u64 at payload 8, data at
/// payload 16 (message byte 32); a DMA_READ reply has the same shape with the data.
/// </summary>
/// <remarks>
/// Verified against QEMU 11.1.3 (Debian) with unshared guest RAM by the integration tests: a DMA_READ reply
/// carried its data at byte 32, and a DMA_WRITE with data at byte 28 was refused with E2BIG (the data had
/// landed in the count's upper half). QEMU's <c>VFIOUserDMARW</c> as read in some source versions (32-bit
/// count, data at byte 28) does not describe the shipped binary. The two peers differ only in the DMA_WRITE
/// reply: QEMU sends a bare header, the spec an echo of address and count; we accept both.
/// </remarks>
public static class DmaTransfer
{
    /// <summary>Byte offset of the data from the start of the message.</summary>
    public const int DataOffset = 32;

    /// <summary>Size of a request (or DMA_READ reply) message carrying <paramref name="count"/> data bytes.</summary>
    public static int MessageSize(int count, bool withData) => DataOffset + (withData ? count : 0);

    public static void WriteHead(Span<byte> payload, ulong address, int count)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(payload, address);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[8..], (ulong)count);
    }

    public static bool TryReadHead(ReadOnlySpan<byte> payload, out ulong address, out ulong count)
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

/// <summary>How a client answers a server's DMA_WRITE.</summary>
public enum DmaWriteReply
{
    /// <summary>A bare 16-byte header, as QEMU 11.1 does.</summary>
    BareHeader,

    /// <summary>Header + address + count, as the spec (and libvfio-user) does.</summary>
    Echo,
}
