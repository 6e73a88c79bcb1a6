using Microsoft.Extensions.Logging;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>What the streams log (event ids 3200–3209).</summary>
internal static partial class StreamLog
{
    [LoggerMessage(EventId = 3200, Level = LogLevel.Information, Message = "Stream {Stream} started: {Format}, {Segments} descriptor(s), {Bytes} B buffer, {Periods} IOC boundary(ies)")]
    public static partial void Started(ILogger logger, int stream, string format, int segments, uint bytes, int periods);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "Stream {Stream} stopped ({Reason}) after {Frames} frames")]
    public static partial void Stopped(ILogger logger, int stream, string reason, long frames);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Warning, Message = "Stream {Stream} error {Code}: {Detail}")]
    public static partial void Error(ILogger logger, int stream, AudioDmaErr code, string detail);
}
