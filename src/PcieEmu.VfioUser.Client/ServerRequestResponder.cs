using Microsoft.Extensions.Logging;
using PcieEmu.Interop;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>
/// Server→client requests, answered the way QEMU 11.1 answers them (hw/vfio-user/pci.c): no fds allowed (EINVAL),
/// a message shorter than the DMA struct is EINVAL, a count above our max_data_xfer_size is E2BIG, guest-memory
/// faults come back as the memory's errno, anything but DMA_READ/DMA_WRITE is ENOSYS. Framing follows
/// <see cref="DmaTransfer"/>: a DMA_READ reply is 32 + count bytes with the data at <see cref="DmaTransfer.DataOffset"/>;
/// a DMA_WRITE reply is the bare header (QEMU) or echoes address and count (spec), per <see cref="VfioUserClientOptions.DmaWriteReply"/>.
/// </summary>
internal sealed partial class ServerRequestResponder(ClientChannel channel, VfioUserClientOptions options, int maxTransfer, ILogger logger)
    : IServerRequestHandler
{
    private byte[]? _buffer;

    /// <summary>Server→client requests answered (successfully or with an errno).</summary>
    public long Served { get; private set; }

    /// <summary>Server→client DMA_READ requests answered successfully.</summary>
    public long DmaReadsServed { get; private set; }

    /// <summary>Server→client DMA_WRITE requests answered successfully.</summary>
    public long DmaWritesServed { get; private set; }

    public void Serve(in MessageHeader request, ReadOnlySpan<byte> payload, int fdCount)
    {
        var buffer = _buffer ??= GC.AllocateUninitializedArray<byte>(maxTransfer + ClientChannel.HeadRoom, pinned: true);
        int replyPayload = 0;
        int errno;
        if (fdCount > 0)
        {
            errno = Errno.EINVAL;
        }
        else
        {
            errno = request.Command switch
            {
                VfioUserCommand.DmaRead => ServeDmaRead(request, payload, buffer, out replyPayload),
                VfioUserCommand.DmaWrite => ServeDmaWrite(request, payload, buffer, out replyPayload),
                _ => Errno.ENOSYS,
            };
        }

        channel.Fds.Release();
        Served++;
        if (errno != 0)
        {
            LogServedWithError(logger, request.Command, request.Id, Errno.Name(errno));
        }

        if (request.NoReply)
        {
            return;
        }

        var header = errno == 0 ? request.ReplyHeader(replyPayload) : request.ErrorHeader(errno);
        header.WriteTo(buffer);
        int length = MessageHeader.Length + (errno == 0 ? replyPayload : 0);
        channel.SendReply(buffer.AsSpan(0, length), request);
    }

    /// <summary>Validates a server DMA request's head: 0, EINVAL (malformed) or E2BIG (over our transfer limit).</summary>
    private int ParseDmaRequest(in MessageHeader request, ReadOnlySpan<byte> payload, out ulong address, out ulong count)
    {
        count = 0;
        if (request.Size < DmaTransfer.MessageSize(0, withData: false) || !DmaTransfer.TryReadHead(payload, out address, out count))
        {
            address = 0;
            return Errno.EINVAL;
        }

        return count > (ulong)maxTransfer ? Errno.E2BIG : 0;
    }

    private int ServeDmaRead(in MessageHeader request, ReadOnlySpan<byte> payload, byte[] buffer, out int replyPayload)
    {
        replyPayload = 0;
        int head = ParseDmaRequest(request, payload, out ulong address, out ulong count);
        if (head != 0)
        {
            return head;
        }

        var memory = options.GuestMemory;
        if (memory is null)
        {
            return Errno.ENODEV;
        }

        int n = (int)count;
        int dataAt = DmaTransfer.DataOffset;
        var reply = buffer.AsSpan(0, DmaTransfer.MessageSize(n, withData: true));
        reply.Clear();
        DmaTransfer.WriteHead(reply[MessageHeader.Length..], address, n);
        int errno = memory.Read(address, reply.Slice(dataAt, n));
        if (errno != 0)
        {
            return errno;
        }

        DmaReadsServed++;
        replyPayload = reply.Length - MessageHeader.Length;
        return 0;
    }

    private int ServeDmaWrite(in MessageHeader request, ReadOnlySpan<byte> payload, byte[] buffer, out int replyPayload)
    {
        replyPayload = 0;
        int head = ParseDmaRequest(request, payload, out ulong address, out ulong count);
        if (head != 0)
        {
            return head;
        }

        int dataAt = DmaTransfer.DataOffset - MessageHeader.Length;
        if ((ulong)payload.Length < (ulong)dataAt + count)
        {
            return Errno.EINVAL;
        }

        var memory = options.GuestMemory;
        if (memory is null)
        {
            return Errno.ENODEV;
        }

        int errno = memory.Write(address, payload.Slice(dataAt, (int)count));
        if (errno != 0)
        {
            return errno;
        }

        DmaWritesServed++;
        if (options.DmaWriteReply == DmaWriteReply.Echo)
        {
            DmaTransfer.WriteHead(buffer.AsSpan(MessageHeader.Length, 16), address, (int)count);
            replyPayload = 16;
        }

        return 0;
    }

    [LoggerMessage(EventId = 1500, Level = LogLevel.Debug, Message = "Answered the server's {Command} id {Id} with {Error}")]
    private static partial void LogServedWithError(ILogger logger, VfioUserCommand command, ushort id, string error);
}
