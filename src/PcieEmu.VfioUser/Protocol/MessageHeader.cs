using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>The 16-byte header in front of every message and reply (struct vfio_user_header).</summary>
/// <param name="Id">Message id chosen by the sender of a request; the reply carries the same id.</param>
/// <param name="Command">The command, the same in the request and its reply.</param>
/// <param name="Size">Bytes of the whole message, this header included (at least <see cref="Length"/>).</param>
/// <param name="Flags">Message type (command or reply) and the NO_REPLY and ERROR bits.</param>
/// <param name="Error">In an error reply: the errno; 0 otherwise.</param>
public readonly record struct MessageHeader(ushort Id, VfioUserCommand Command, uint Size, VfioUserFlags Flags, uint Error)
{
    /// <summary>Bytes of the header on the wire.</summary>
    public const int Length = 16;

    /// <summary>The message type bits of <see cref="Flags"/>: <see cref="VfioUserFlags.Command"/> or <see cref="VfioUserFlags.Reply"/>.</summary>
    public VfioUserFlags Type => Flags & VfioUserFlags.TypeMask;

    /// <summary>Whether this is a reply rather than a request.</summary>
    public bool IsReply => Type == VfioUserFlags.Reply;

    /// <summary>Whether the sender of this request wants no reply (a posted REGION_WRITE, for one): answering it would be a protocol error.</summary>
    public bool NoReply => (Flags & VfioUserFlags.NoReply) != 0;

    /// <summary>Whether this reply reports a failure; <see cref="Error"/> then holds the errno.</summary>
    public bool IsError => (Flags & VfioUserFlags.Error) != 0;

    /// <summary>
    /// Decodes the first <see cref="Length"/> bytes of <paramref name="source"/>; false when there are fewer. Nothing is
    /// validated: check <see cref="Size"/> against your limits before buffering the body.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out MessageHeader header)
    {
        if (source.Length < Length)
        {
            header = default;
            return false;
        }

        header = new MessageHeader(
            BinaryPrimitives.ReadUInt16LittleEndian(source),
            (VfioUserCommand)BinaryPrimitives.ReadUInt16LittleEndian(source[2..]),
            BinaryPrimitives.ReadUInt32LittleEndian(source[4..]),
            (VfioUserFlags)BinaryPrimitives.ReadUInt32LittleEndian(source[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(source[12..]));
        return true;
    }

    /// <summary>Encodes the header at the start of <paramref name="destination"/>; throws <see cref="ArgumentOutOfRangeException"/> when it is shorter.</summary>
    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Id);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], (ushort)Command);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Size);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], (uint)Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], Error);
    }

    /// <summary>The header of a successful reply to this request carrying <paramref name="payloadLength"/> bytes.</summary>
    public MessageHeader ReplyHeader(int payloadLength) => new(Id, Command, (uint)(Length + payloadLength), VfioUserFlags.Reply, 0);

    /// <summary>The header-only error reply to this request.</summary>
    public MessageHeader ErrorHeader(int errno) => new(Id, Command, Length, VfioUserFlags.Reply | VfioUserFlags.Error, (uint)errno);
}
