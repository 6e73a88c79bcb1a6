namespace PcieEmu.Devices.Audio.Routing;

/// <summary>
/// Where a playback stream's samples go, after its volume (audio card spec §13). Write is called on the card's
/// engine thread, never under the function lock; it must not block for long (it runs on the stream's clock).
/// </summary>
internal interface IPlaybackSink : IDisposable
{
    /// <summary>The route as configured, e.g. "memory" or "wav:/tmp/out.wav".</summary>
    string Description { get; }

    /// <summary>
    /// Start and Stop do file I/O: the card then calls them on its engine thread, outside the function lock,
    /// instead of inside the guest's RUN write. In-memory endpoints start inline.
    /// </summary>
    bool DoesIo => false;

    /// <summary>The stream started with <paramref name="format"/> (it may differ from the previous run).</summary>
    void Start(AudioFormat format);

    /// <summary>Whole frames in the format given to <see cref="Start"/>.</summary>
    void Write(ReadOnlySpan<byte> frames);

    /// <summary>The stream stopped; file sinks make what they wrote complete and readable.</summary>
    void Stop();
}

/// <summary>Where a capture stream's samples come from, before its gain (audio card spec §13).</summary>
internal interface ICaptureSource : IDisposable
{
    string Description { get; }

    /// <summary>As <see cref="IPlaybackSink.DoesIo"/>.</summary>
    bool DoesIo => false;

    /// <summary>The stream starts with <paramref name="format"/>; null when the source can serve it, otherwise why not.</summary>
    string? Start(AudioFormat format);

    /// <summary>Fills whole frames (stream format); <paramref name="firstFrame"/> counts frames since RUN.</summary>
    void Read(Span<byte> frames, long firstFrame);

    void Stop();
}
