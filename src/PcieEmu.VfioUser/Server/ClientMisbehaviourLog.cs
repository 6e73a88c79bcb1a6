using Microsoft.Extensions.Logging;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// The one log line every request handler of a session writes when it rejects a request (event 1100, in the
/// client-misbehaviour range 1100–1199 whose other events <see cref="VfioUserConnection"/> writes itself). Kept
/// here so the connection and the handlers it owns share one event id and one message.
/// </summary>
internal static partial class ClientMisbehaviourLog
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Warning, Message = "Request {Id} {Command} rejected: {Reason}")]
    public static partial void Malformed(ILogger logger, ushort id, VfioUserCommand command, string reason);
}
