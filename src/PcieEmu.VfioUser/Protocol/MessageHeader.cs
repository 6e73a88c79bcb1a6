using System.Buffers.Binary;

namespace PcieEmu.VfioUser.Protocol;

/// <summary>The 16-byte header in front of every message and reply.</summary>
public readonly record struct MessageHeader(ushort Id, VfioUserCommand Command, uint Size, VfioUserFlags Flags, uint Error)
{
    public const int Length = 16;

    public VfioUserFlags Type => Flags & VfioUserFlags.TypeMask;

    public bool IsReply => Type == VfioUserFlags.Reply;

    public bool NoReply => (Flags & VfioUserFlags.NoReply) != 0;

    public bool IsError => (Flags & VfioUserFlags.Error) != 0;

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
