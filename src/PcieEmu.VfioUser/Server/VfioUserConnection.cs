using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using PcieEmu.Pci;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Transport;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// One client session: negotiate, then read requests strictly in order and answer each through the single
/// reply path (nothing for NO_REPLY). Every handler validates sizes, counts and indices before acting and
/// returns 0 or an errno; malformed input never escapes as an exception. When the client leaves, every
/// mapping and fd it gave us is released. The connection owns the session (receive, validate, dispatch, reply)
/// and hands each kind of request to a collaborator: <see cref="VersionNegotiation"/>, <see cref="DmaMapHandler"/>,
/// <see cref="IrqSetHandler"/> and <see cref="RegionAccessHandler"/>.
/// </summary>
public sealed partial class VfioUserConnection : IDisposable
{
    /// <summary>The protocol minor version we implement (answered as min(client, ours)).</summary>
    public const ushort SupportedMinor = 2;

    private readonly IMessageTransport _transport;
    private readonly PciFunction _function;
    private readonly VfioUserServerOptions _options;
    private readonly ILogger _logger;
    private readonly ILogger _clientLogger;
    private readonly MessageReader _reader;
    private readonly ReceivedFds _fds = new();
    private readonly byte[] _reply;
    private readonly object _sendLock = new();
    private readonly ClientRequests _requests;
    private readonly VersionNegotiation _version;
    private readonly DmaMapHandler _dma;
    private readonly IrqSetHandler _irqs;
    private readonly RegionAccessHandler _regions;
    private SafeHandle? _replyFd;
    private bool _dead;
    private bool _batching;

    /// <summary>
    /// Prepares a session over an already-connected <paramref name="transport"/> (an accepted UNIX socket, or the
    /// server end of a socketpair whose other end QEMU got as an fd). Nothing is read until <see cref="Run"/>.
    /// <see cref="VfioUserServer"/> does this for each client it accepts; call it yourself only to serve a
    /// connection you set up. Serve one <paramref name="function"/> from one connection at a time: the session
    /// owns its DMA table and client interrupt signals while it runs and clears them when it ends.
    /// </summary>
    /// <param name="transport">The client's stream; the connection owns it from now on and disposes it in
    /// <see cref="Dispose"/>.</param>
    /// <param name="function">The device served; not owned (the connection resets it when the client leaves but never
    /// disposes it).</param>
    /// <param name="options">Limits and behaviour; the reply buffer (<see cref="VfioUserServerOptions.MaxMessageSize"/>
    /// bytes, pinned) is allocated here.</param>
    /// <param name="loggerFactory">Source of the connection's loggers: <c>PcieEmu.VfioUser.Connection</c>,
    /// <c>PcieEmu.VfioUser.ClientMisbehaviour</c> (client protocol errors, at Warning) and
    /// <c>PcieEmu.VfioUser.ClientRequests</c>.</param>
    public VfioUserConnection(IMessageTransport transport, PciFunction function, VfioUserServerOptions options, ILoggerFactory loggerFactory)
    {
        _transport = transport;
        _function = function;
        _options = options;
        _logger = loggerFactory.CreateLogger("PcieEmu.VfioUser.Connection");
        _clientLogger = loggerFactory.CreateLogger("PcieEmu.VfioUser.ClientMisbehaviour");
        _reader = new MessageReader(transport, options.MaxMessageSize, _logger);
        _reply = GC.AllocateUninitializedArray<byte>(options.MaxMessageSize, pinned: true);
        _requests = new ClientRequests(SendRequest, options.ClientReplyTimeout,
            loggerFactory.CreateLogger("PcieEmu.VfioUser.ClientRequests"));
        _version = new VersionNegotiation(options, function.DmaMappings.MaxMappings, _requests, _logger, _clientLogger);
        _dma = new DmaMapHandler(function.DmaMappings, _requests, options.MessageDma, _logger, _clientLogger);
        _irqs = new IrqSetHandler(function.Interrupts, _logger, _clientLogger);
        _regions = new RegionAccessHandler(function, options.MaxDataTransferSize, _clientLogger);
    }

    /// <summary>
    /// Counters of what this session processed (requests per command, error replies, suppressed replies). Written by
    /// the session thread; readable from any thread during and after the session.
    /// </summary>
    public ConnectionStatistics Statistics { get; } = new();

    /// <summary>What the client declared in VERSION (defaults until then).</summary>
    public VersionCapabilities ClientCapabilities => _version.ClientCapabilities;

    /// <summary>The transport's name for the client end, as it appears in logs (e.g. <c>unix:/tmp/card.sock#1</c>).</summary>
    public string Description => _transport.Description;

    /// <summary>Receive calls the session made on the transport (one may return several pipelined messages); for tests of batching.</summary>
    internal long ReceiveCalls => _reader.ReceiveCalls;

    /// <summary>
    /// Server→client requests (DMA_READ/DMA_WRITE, used for guest memory the client mapped without an fd) sent so far
    /// in this session; a request that failed to send is not counted. Counted by the thread that does the DMA (the
    /// function's scheduler); readable from any thread, possibly one behind.
    /// </summary>
    public long RequestsSentToClient => _requests.Sent;

    /// <summary>
    /// Serves the client until it disconnects, <see cref="Shutdown"/> is called or the stream becomes untrustworthy;
    /// then resets the function (<see cref="ResetKind.ClientLost"/>), unmaps the client's DMA memory and releases its
    /// interrupt fds. Blocks the calling thread, which becomes the session thread of src/THREADS.md; call it once.
    /// Client errors become errno replies and never throw; an exception out of here is a bug in the server or device.
    /// </summary>
    public void Run()
    {
        _requests.LoopThreadId = Environment.CurrentManagedThreadId;
        LogConnected(_logger, Description, _function.Name);
        if (_options.BatchReplyWithReceive)
        {
            _batching = _transport.TryBatchSendWithReceive(out string reason);
            if (!_batching)
            {
                LogNoBatching(_logger, Description, reason);
            }
        }

        try
        {
            while (!_dead)
            {
                var status = _reader.Read(out var header, out var payload, _fds);
                try
                {
                    switch (status)
                    {
                        case ReadStatus.Message:
                            Process(header, payload);
                            break;
                        case ReadStatus.Oversize:
                            LogOversize(_clientLogger, header.Id, header.Command, header.Size, _reader.MaxMessageSize);
                            Reply(header, Interop.Errno.E2BIG, 0);
                            break;
                        case ReadStatus.EndOfStream:
                            LogDisconnected(_logger, Description, Statistics.Messages);
                            return;
                        default:
                            LogFatal(_clientLogger, Description, _reader.FatalReason ?? "unknown");
                            return;
                    }
                }
                finally
                {
                    _fds.Release();
                }
            }
        }
        finally
        {
            ReleaseClientResources();
        }
    }

    private void Process(in MessageHeader header, ReadOnlySpan<byte> payload)
    {
        if (header.IsReply)
        {
            Statistics.ClientRepliesReceived++;
            if (!_requests.Complete(header, payload))
            {
                LogUnexpectedReply(_clientLogger, header.Id, header.Command);
            }

            return;
        }

        Statistics.Count(header.Command);
        if (_options.TrackAllocations)
        {
            Statistics.SampleAllocations();
        }

        int replyLength = 0;
        _replyFd = null;
        int errno;
        if (header.Type != VfioUserFlags.Command)
        {
            LogBadType(_clientLogger, header.Id, (uint)header.Flags);
            errno = Interop.Errno.EINVAL;
        }
        else if (_fds.Truncated)
        {
            LogTooManyFds(_clientLogger, header.Id, header.Command, _options.MaxFdsPerMessage);
            errno = Interop.Errno.EINVAL;
        }
        else if (!_version.Negotiated && header.Command != VfioUserCommand.Version)
        {
            LogBeforeVersion(_clientLogger, header.Id, header.Command);
            errno = Interop.Errno.EINVAL;
        }
        else
        {
            errno = Dispatch(header, payload, out replyLength);
        }

        Reply(header, errno, replyLength);
    }

    private int Dispatch(in MessageHeader h, ReadOnlySpan<byte> payload, out int replyLength)
    {
        replyLength = 0;
        var reply = _reply.AsSpan(MessageHeader.Length);
        if (h.Command is not (VfioUserCommand.DmaMap or VfioUserCommand.DeviceSetIrqs) && _fds.Count > 0)
        {
            LogUnexpectedFds(_clientLogger, h.Id, h.Command, _fds.Count);
            return Interop.Errno.EINVAL;
        }

        return h.Command switch
        {
            VfioUserCommand.Version => _version.Handle(h, payload, reply, out replyLength),
            VfioUserCommand.DmaMap => _dma.Map(h, payload, _fds),
            VfioUserCommand.DmaUnmap => _dma.Unmap(h, payload, reply, out replyLength),
            VfioUserCommand.DeviceGetInfo => HandleGetInfo(h, payload, reply, out replyLength),
            VfioUserCommand.DeviceGetRegionInfo => _regions.GetInfo(h, payload, reply, out replyLength, out _replyFd),
            VfioUserCommand.DeviceGetRegionIoFds => _regions.GetIoFds(h, payload, reply, out replyLength),
            VfioUserCommand.DeviceGetIrqInfo => _irqs.GetInfo(h, payload, reply, out replyLength),
            VfioUserCommand.DeviceSetIrqs => _irqs.Set(h, payload, _fds),
            VfioUserCommand.RegionRead => _regions.Read(h, payload, reply, out replyLength),
            VfioUserCommand.RegionWrite => _regions.Write(h, payload, reply, out replyLength),
            VfioUserCommand.RegionWriteMulti => _regions.WriteMulti(h, payload, reply, out replyLength),
            VfioUserCommand.DeviceReset => HandleDeviceReset(),
            VfioUserCommand.DeviceFeature => HandleDeviceFeature(h, payload),
            _ => Unsupported(h),
        };
    }

    private int Unsupported(in MessageHeader h)
    {
        LogUnsupported(_clientLogger, h.Id, (ushort)h.Command);
        return Interop.Errno.ENOSYS;
    }

    /// <summary>The only way a reply leaves: header (+ payload already in the buffer, + optional fd), or nothing for NO_REPLY.</summary>
    private void Reply(in MessageHeader request, int errno, int payloadLength)
    {
        if (request.NoReply)
        {
            if (errno != 0)
            {
                Statistics.RepliesSuppressed++;
                LogNoReplyError(_clientLogger, request.Id, request.Command, Interop.Errno.Name(errno));
            }

            return;
        }

        var header = errno == 0 ? request.ReplyHeader(payloadLength) : request.ErrorHeader(errno);
        if (errno != 0)
        {
            Statistics.ErrorReplies++;
            payloadLength = 0;
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                LogErrorReply(_logger, request.Id, request.Command, Interop.Errno.Name(errno));
            }
        }

        header.WriteTo(_reply);
        int sent;
        var message = _reply.AsSpan(0, MessageHeader.Length + payloadLength);
        lock (_sendLock)
        {
            if (_replyFd is not null && errno == 0)
            {
                sent = _transport.Send(message, default, [_replyFd]);
            }
            else if (_batching && _reader.NextReadReceives)
            {
                sent = _transport.SendBeforeReceive(message); // goes out with the receive of the next request
            }
            else
            {
                sent = _transport.Send(message, default, default);
            }
        }

        _replyFd = null;
        if (sent != 0)
        {
            LogSendFailed(_logger, request.Id, request.Command, Interop.Errno.Name(-sent));
            _dead = true;
        }
    }

    private int SendRequest(ReadOnlyMemory<byte> message)
    {
        lock (_sendLock)
        {
            return _dead ? -Interop.Errno.EPIPE : _transport.Send(message.Span, default, default);
        }
    }

    private void ReleaseClientResources()
    {
        _requests.Close();
        _irqs.ReleaseClientSignals();

        // The device learns first that its client is gone, while guest memory is still mapped: engines stop with
        // "the host could not complete the transfer" (TRANSPORT), never with an UNMAPPED they would meet if a step
        // ran between the unmap and the reset. Then the memory goes.
        _function.Reset(ResetKind.ClientLost);
        int maps = _dma.UnmapAll();
        LogReleased(_logger, Description, maps);
    }

    /// <summary>Ends the stream so <see cref="Run"/> cleans up and returns; any thread, any number of times.</summary>
    public void Shutdown() => _transport.Shutdown();

    /// <summary>
    /// Closes the transport (and any fds it still holds). Call it after <see cref="Run"/> returned, or instead of it
    /// for a connection never run; to stop a running session, call <see cref="Shutdown"/> first and wait for
    /// <see cref="Run"/> to return. Client mappings and signals are released by <see cref="Run"/>, not here.
    /// </summary>
    public void Dispose()
    {
        _transport.Dispose();
    }
}
