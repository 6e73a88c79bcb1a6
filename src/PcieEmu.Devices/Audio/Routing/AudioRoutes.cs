namespace PcieEmu.Devices.Audio.Routing;

/// <summary>
/// Route strings (spec §13) → sinks and sources. Playback sinks: "memory", "wav:PATH", "loopback", "null". Capture
/// sources: "tone:F[@A][,F[@A]…]", "loopback:STREAM", "wav:PATH", "silence". Kinds are lower case; everything after
/// the first ':' is the argument, taken verbatim (a PATH may contain ':').
/// </summary>
internal static class AudioRoutes
{
    public const string DefaultSink = "memory";
    public const string DefaultSource = "tone:440,660";

    private const string SinkKinds = "memory, wav:PATH, loopback or null";
    private const string SourceKinds = "tone:F[@A][,F[@A]...], loopback:STREAM, wav:PATH or silence";

    /// <summary>
    /// The sink for playback stream <paramref name="streamName"/> routed by <paramref name="spec"/>; a "memory" sink
    /// keeps up to <paramref name="keepBytes"/> of what it is given.
    /// </summary>
    /// <exception cref="FormatException">An invalid route; the message names the bad part.</exception>
    public static IPlaybackSink CreateSink(string spec, LoopbackHub hub, string streamName, long keepBytes = MemorySink.DefaultCapBytes)
    {
        var (kind, argument) = ParseOrThrow(spec, forPlayback: true);
        return kind switch
        {
            "memory" => new MemorySink(keepBytes),
            "null" => new NullSink(),
            "wav" => new WavFileSink(argument!),
            _ => (hub ?? throw new ArgumentNullException(nameof(hub))).CreateSink(streamName),
        };
    }

    /// <summary>The source a capture stream routed by <paramref name="spec"/> reads.</summary>
    /// <exception cref="FormatException">An invalid route; the message names the bad part.</exception>
    public static ICaptureSource CreateSource(string spec, LoopbackHub hub)
    {
        var (kind, argument) = ParseOrThrow(spec, forPlayback: false);
        return kind switch
        {
            "tone" => new ToneSource(argument!),
            "silence" => new SilenceSource(),
            "wav" => new WavFileSource(argument!),
            _ => (hub ?? throw new ArgumentNullException(nameof(hub))).CreateSource(argument!),
        };
    }

    /// <summary>
    /// Checks the syntax of a route for a playback (<paramref name="forPlayback"/>) or capture stream; touches no
    /// file and does not check that a loopback's stream exists (the model loader does).
    /// </summary>
    public static bool TryValidate(string spec, bool forPlayback, out string? error) =>
        TryParse(spec, forPlayback, out _, out _, out error);

    private static (string Kind, string? Argument) ParseOrThrow(string spec, bool forPlayback) =>
        TryParse(spec, forPlayback, out string kind, out string? argument, out string? error)
            ? (kind, argument)
            : throw new FormatException(error);

    private static bool TryParse(string? spec, bool forPlayback, out string kind, out string? argument, out string? error)
    {
        string direction = forPlayback ? "playback sink" : "capture source";
        string expected = forPlayback ? SinkKinds : SourceKinds;
        error = null;
        argument = null;
        kind = "";
        if (string.IsNullOrEmpty(spec))
        {
            error = $"empty route; a {direction} is {expected}";
            return false;
        }

        int colon = spec.IndexOf(':', StringComparison.Ordinal);
        kind = colon < 0 ? spec : spec[..colon];
        argument = colon < 0 ? null : spec[(colon + 1)..];
        switch (forPlayback, kind)
        {
            case (true, "memory" or "null" or "loopback"):
            case (false, "silence"):
                if (argument is not null)
                {
                    error = kind == "loopback"
                        ? $"route '{spec}': the playback sink 'loopback' takes no argument (capture streams name this stream: loopback:<stream>)"
                        : $"route '{spec}': '{kind}' takes no argument";
                }

                break;
            case (_, "wav"):
                if (string.IsNullOrWhiteSpace(argument))
                {
                    error = $"route '{spec}': 'wav' needs a file path, wav:PATH";
                }
                else if (argument.Contains('\0', StringComparison.Ordinal))
                {
                    error = $"route '{spec}': the wav path contains a NUL character";
                }

                break;
            case (false, "tone"):
                if (!ToneSource.TryParse(argument, out _, out string? toneError))
                {
                    error = $"route '{spec}': {toneError}";
                }

                break;
            case (false, "loopback"):
                if (string.IsNullOrEmpty(argument))
                {
                    error = $"route '{spec}': the capture source 'loopback' needs the playback stream to read, loopback:STREAM";
                }
                else if (argument.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
                {
                    error = $"route '{spec}': stream name '{argument}' contains white space or control characters";
                }

                break;
            case (true, "tone" or "silence"):
            case (false, "memory" or "null"):
                error = $"route '{spec}': '{kind}' is a {(forPlayback ? "capture source" : "playback sink")}, not a {direction}; a {direction} is {expected}";
                break;
            default:
                error = $"route '{spec}': unknown {direction} '{kind}'; a {direction} is {expected}";
                break;
        }

        return error is null;
    }
}
