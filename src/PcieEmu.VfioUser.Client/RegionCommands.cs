using System.Buffers;
using System.Buffers.Binary;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>
/// REGION_READ / REGION_WRITE / REGION_WRITE_MULTI: the hot path of a vCPU doing MMIO. A read or write allocates
/// nothing: the request is built in the channel's pinned buffer and sent with one sendmsg (write data as the second
/// iovec, no copy), and the reply lands in the reader's reusable buffer (normally one recvmsg).
/// </summary>
internal sealed class RegionCommands(ClientChannel channel)
{
    public int Read(int region, ulong offset, Span<byte> destination)
    {
        int count = destination.Length;
        const int size32 = MessageHeader.Length + RegionAccess.Length;
        ushort id = channel.TakeId();
        var m = channel.SendBuffer.AsSpan(0, size32);
        new MessageHeader(id, VfioUserCommand.RegionRead, size32, VfioUserFlags.Command, 0).WriteTo(m);
        new RegionAccess(offset, (uint)region, (uint)count).WriteTo(m[MessageHeader.Length..]);
        channel.Send(m, default, default, VfioUserCommand.RegionRead, id);

        channel.AwaitReply(id, VfioUserCommand.RegionRead, 0, channel.DeadlineAfter(null), out var h, out var p);
        ClientChannel.ThrowIfError(h);
        if (!RegionAccess.TryRead(p, out var echo) || echo.Offset != offset || echo.Region != (uint)region
            || echo.Count > (uint)count || p.Length != RegionAccess.Length + (int)echo.Count)
        {
            throw channel.Violation(h.Command, id, $"{h.Size} bytes do not echo offset 0x{offset:x}, region {region} and count ≤ {count} followed by the data");
        }

        p.Slice(RegionAccess.Length, (int)echo.Count).CopyTo(destination);
        return (int)echo.Count;
    }

    public void Write(int region, ulong offset, ReadOnlySpan<byte> data, bool posted)
    {
        int count = data.Length;
        const int size32 = MessageHeader.Length + RegionAccess.Length;
        ushort id = channel.TakeId();
        var m = channel.SendBuffer.AsSpan(0, size32);
        var flags = posted ? VfioUserFlags.Command | VfioUserFlags.NoReply : VfioUserFlags.Command;
        new MessageHeader(id, VfioUserCommand.RegionWrite, (uint)(size32 + count), flags, 0).WriteTo(m);
        new RegionAccess(offset, (uint)region, (uint)count).WriteTo(m[MessageHeader.Length..]);
        channel.Send(m, data, default, VfioUserCommand.RegionWrite, id);
        if (posted)
        {
            return;
        }

        channel.AwaitReply(id, VfioUserCommand.RegionWrite, 0, channel.DeadlineAfter(null), out var h, out var p);
        ClientChannel.ThrowIfError(h);
        if (h.Size != size32 || !RegionAccess.TryRead(p, out var echo) || echo != new RegionAccess(offset, (uint)region, (uint)count))
        {
            throw channel.Violation(h.Command, id, $"{h.Size} bytes; the reply is 32 bytes echoing offset 0x{offset:x}, region {region}, count {count}");
        }
    }

    public void WriteMulti(ReadOnlySpan<RegionWriteMultiEntry> entries)
    {
        int payload = 8 + (entries.Length * RegionWriteMultiEntry.Length);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MessageHeader.Length + payload);
        try
        {
            var m = buffer.AsSpan(0, MessageHeader.Length + payload);
            ushort id = channel.TakeId();
            new MessageHeader(id, VfioUserCommand.RegionWriteMulti, (uint)m.Length, VfioUserFlags.Command | VfioUserFlags.NoReply, 0).WriteTo(m);
            var p = m[MessageHeader.Length..];
            BinaryPrimitives.WriteUInt64LittleEndian(p, (ulong)entries.Length);
            for (int i = 0; i < entries.Length; i++)
            {
                entries[i].WriteTo(p[(8 + (i * RegionWriteMultiEntry.Length))..]);
            }

            channel.Send(m, default, default, VfioUserCommand.RegionWriteMulti, id);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
