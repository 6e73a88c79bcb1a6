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

    public ConnectionStatistics Statistics { get; } = new();

    /// <summary>What the client declared in VERSION (defaults until then).</summary>
    public VersionCapabilities ClientCapabilities => _version.ClientCapabilities;

    public string Description => _transport.Description;

    public long ReceiveCalls => _reader.ReceiveCalls;

    public long RequestsSentToClient => _requests.Sent;

    /// <summary>Serves the client until it disconnects or the stream becomes untrustworthy; then cleans up.</summary>
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

    /// <summary>Unblocks <see cref="Run"/> (it then cleans up and returns).</summary>
    public void Shutdown() => _transport.Shutdown();

    public void Dispose()
    {
        _transport.Dispose();
    }
}
