namespace PcieEmu.Devices.Audio.Routing;

/// <summary>Playback route "null": the samples are dropped (only counted).</summary>
internal sealed class NullSink : IPlaybackSink
{
    private long _bytes;

    public string Description => "null";

    /// <summary>Bytes handed to the sink since it was created.</summary>
    public long BytesDropped => Interlocked.Read(ref _bytes);

    public void Start(AudioFormat format)
    {
    }

    public void Write(ReadOnlySpan<byte> frames) => Interlocked.Add(ref _bytes, frames.Length);

    public void Stop()
    {
    }

    public void Dispose()
    {
    }
}
