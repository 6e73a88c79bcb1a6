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

    /// <summary>
    /// Size of a whole message (header included): <see cref="DataOffset"/> plus <paramref name="count"/> when
    /// <paramref name="withData"/> (a DMA_WRITE request, a DMA_READ reply), else the bare head (a DMA_READ request).
    /// </summary>
    public static int MessageSize(int count, bool withData) => DataOffset + (withData ? count : 0);

    /// <summary>
    /// Encodes address and count, the first 16 payload bytes (the payload starts after the 16-byte message header);
    /// throws <see cref="ArgumentOutOfRangeException"/> when <paramref name="payload"/> is shorter.
    /// </summary>
    public static void WriteHead(Span<byte> payload, ulong address, int count)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(payload, address);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[8..], (ulong)count);
    }

    /// <summary>
    /// Decodes address and count from the first 16 payload bytes; false when there are fewer. The count is the
    /// peer's claim: check it against the data that came and the negotiated transfer limit before using it.
    /// </summary>
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
