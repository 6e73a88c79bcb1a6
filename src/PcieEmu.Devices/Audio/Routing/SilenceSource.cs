namespace PcieEmu.Devices.Audio.Routing;

/// <summary>Capture route "silence": zeros (+0.0 for FLOAT_LE) in every format.</summary>
internal sealed class SilenceSource : ICaptureSource
{
    public string Description => "silence";

    public string? Start(AudioFormat format) => null;

    public void Read(Span<byte> frames, long firstFrame) => frames.Clear();

    public void Stop()
    {
    }

    public void Dispose()
    {
    }
}
