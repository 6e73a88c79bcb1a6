using Microsoft.Extensions.Logging;
using PcieEmu.Interop;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// The VERSION handshake of one session and what it settled: whether it happened (every other request waits
/// for it), what the client declared, and the transfer limit server→client requests must keep. Runs only on
/// the session thread.
/// </summary>
internal sealed partial class VersionNegotiation
{
    private readonly VfioUserServerOptions _options;
    private readonly int _maxDmaMaps;
    private readonly ClientRequests _requests;
    private readonly ILogger _logger;
    private readonly ILogger _clientLogger;

    /// <param name="options">What we advertise (transfer size, fd count, write-multiple).</param>
    /// <param name="maxDmaMaps">How many DMA mappings the function's controller takes (advertised as max_dma_maps).</param>
    /// <param name="requests">Receives the negotiated transfer limit for server→client requests.</param>
    /// <param name="logger">The connection's log.</param>
    /// <param name="clientLogger">Where a malformed or repeated VERSION is logged.</param>
    public VersionNegotiation(VfioUserServerOptions options, int maxDmaMaps, ClientRequests requests, ILogger logger, ILogger clientLogger)
    {
        _options = options;
        _maxDmaMaps = maxDmaMaps;
        _requests = requests;
        _logger = logger;
        _clientLogger = clientLogger;
    }

    /// <summary>VERSION was answered; a second one is refused.</summary>
    public bool Negotiated { get; private set; }

    /// <summary>What the client declared in VERSION (defaults until then).</summary>
    public VersionCapabilities ClientCapabilities { get; private set; } = new();

    /// <summary>VERSION: 0 (our version and capabilities in <paramref name="reply"/>) or an errno.</summary>
    public int Handle(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (Negotiated)
        {
            LogVersionTwice(_clientLogger, h.Id);
            return Errno.EINVAL;
        }

        if (!VersionMessage.TryRead(payload, out ushort major, out ushort minor, out var json))
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, "payload shorter than major/minor");
            return Errno.EINVAL;
        }

        if (major != 0)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"protocol major {major} (only 0 exists)");
            return Errno.ENOTSUP;
        }

        if (!VersionCapabilities.TryParse(json, out var client, out string? error))
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, error!);
            return Errno.EINVAL;
        }

        ClientCapabilities = client;
        _requests.MaxTransfer = (int)Math.Min(client.MaxDataTransferSize, _options.MaxDataTransferSize);
        var ours = new VersionCapabilities
        {
            MaxMsgFds = _options.MaxFdsPerMessage,
            MaxDataTransferSize = _options.MaxDataTransferSize,
            MaxDmaMaps = _maxDmaMaps,
            PageSizes = Environment.SystemPageSize,
            WriteMultiple = _options.AdvertiseWriteMultiple,
        };

        // The client's receive buffer for this reply is the size of its request (QEMU: vfio_user_send_wait).
        int jsonBudget = (int)h.Size - MessageHeader.Length - VersionMessage.HeadLength;
        string? replyJson = ours.ToReplyJson(jsonBudget, client.PresentKeys);
        ushort replyMinor = Math.Min(minor, VfioUserConnection.SupportedMinor);
        replyLength = VersionMessage.Write(reply, 0, replyMinor, replyJson);
        Negotiated = true;
        LogNegotiated(_logger, minor, replyMinor, client.MaxMsgFds, client.MaxDataTransferSize, replyJson ?? "(none)");
        return 0;
    }

    // Event 1002 of the connection's lifecycle range and 1111 of its client-misbehaviour range.
    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Negotiated: client minor {ClientMinor}, reply minor {ReplyMinor}; client takes {ClientFds} fds and {ClientXfer} B per message; our capabilities {Json}")]
    private static partial void LogNegotiated(ILogger logger, ushort clientMinor, ushort replyMinor, int clientFds, long clientXfer, string json);

    [LoggerMessage(EventId = 1111, Level = LogLevel.Warning, Message = "Request {Id}: VERSION sent twice")]
    private static partial void LogVersionTwice(ILogger logger, ushort id);
}
