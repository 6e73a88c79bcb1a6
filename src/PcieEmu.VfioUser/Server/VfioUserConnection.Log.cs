using Microsoft.Extensions.Logging;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

public sealed partial class VfioUserConnection
{
    // 1000–1099: session lifecycle and normal traffic (1002 in VersionNegotiation, 1010–1012 in DmaMapHandler,
    // 1020–1021 in IrqSetHandler).
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Client connected on {Transport}, serving {Function}")]
    private static partial void LogConnected(ILogger logger, string transport, string function);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Client on {Transport} disconnected after {Messages} messages")]
    private static partial void LogDisconnected(ILogger logger, string transport, long messages);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Released client resources of {Transport}: {Mappings} DMA mapping(s), all interrupt fds")]
    private static partial void LogReleased(ILogger logger, string transport, int mappings);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Debug, Message = "Request {Id} {Command} answered with {Error}")]
    private static partial void LogErrorReply(ILogger logger, ushort id, VfioUserCommand command, string error);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "{Transport}: replies and receives go out as separate system calls ({Reason})")]
    private static partial void LogNoBatching(ILogger logger, string transport, string reason);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Error, Message = "Sending the reply to {Id} {Command} failed: {Error}; closing the session")]
    private static partial void LogSendFailed(ILogger logger, ushort id, VfioUserCommand command, string error);

    // 1100–1199: client misbehaviour (own category, Warning; 1100 in ClientMisbehaviourLog, 1111 in VersionNegotiation).
    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Request {Id} {Command}: size {Size} exceeds the limit {Limit}; answered E2BIG, body skipped")]
    private static partial void LogOversize(ILogger logger, ushort id, VfioUserCommand command, uint size, int limit);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Error, Message = "Closing {Transport}: {Reason}")]
    private static partial void LogFatal(ILogger logger, string transport, string reason);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Reply {Id} {Command} matches no request of ours; ignored")]
    private static partial void LogUnexpectedReply(ILogger logger, ushort id, VfioUserCommand command);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "Message {Id} has unknown type in flags 0x{Flags:x}")]
    private static partial void LogBadType(ILogger logger, ushort id, uint flags);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Warning, Message = "Request {Id} {Command} carried more fds than the {Limit} we accept; the kernel dropped some")]
    private static partial void LogTooManyFds(ILogger logger, ushort id, VfioUserCommand command, int limit);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Warning, Message = "Request {Id} {Command} before VERSION")]
    private static partial void LogBeforeVersion(ILogger logger, ushort id, VfioUserCommand command);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Warning, Message = "Request {Id} {Command} carried {Count} fd(s) it cannot use; closed")]
    private static partial void LogUnexpectedFds(ILogger logger, ushort id, VfioUserCommand command, int count);

    [LoggerMessage(EventId = 1108, Level = LogLevel.Warning, Message = "Request {Id}: command {Command} is not supported")]
    private static partial void LogUnsupported(ILogger logger, ushort id, ushort command);

    [LoggerMessage(EventId = 1109, Level = LogLevel.Warning, Message = "Posted request {Id} {Command} failed with {Error} (NO_REPLY: nothing sent)")]
    private static partial void LogNoReplyError(ILogger logger, ushort id, VfioUserCommand command, string error);
}
