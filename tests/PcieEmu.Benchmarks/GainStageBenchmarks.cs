using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;

namespace PcieEmu.Benchmarks;

/// <summary>
/// <see cref="GainStage.Apply"/> (vectorised) against <see cref="GainStage.ApplyScalar"/> (the reference) on a
/// 4096-frame buffer with non-unity gains. Each invocation applies a gain set and then its inverse (LEVEL 192 − d and
/// 192 + d per channel), so the in-place buffer keeps its level across millions of iterations instead of decaying
/// to zeros or float subnormals; Mean is per frame (OperationsPerInvoke = 2 × 4096).
/// </summary>
[Config(typeof(ThroughputConfig))]
public class GainStageBenchmarks
{
    public const int Frames = 4096;

    private byte[] _buffer = [];
    private ChannelGain[] _down = [];
    private ChannelGain[] _up = [];

    [Params(SampleFormat.S16Le, SampleFormat.S24Le, SampleFormat.S32Le, SampleFormat.FloatLe)]
    public SampleFormat Format { get; set; }

    [Params(2, 8)]
    public int Channels { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _buffer = new byte[Frames * Channels * Format.BytesPerSample()];
        BenchmarkData.FillHalfScale(_buffer, Format);
        _down = new ChannelGain[Channels];
        _up = new ChannelGain[Channels];
        for (int c = 0; c < Channels; c++)
        {
            int d = 6 + c; // −3 dB, −3.5 dB, … and back up
            _down[c] = new ChannelGain((byte)(ChannelGain.UnityLevel - d), false);
            _up[c] = new ChannelGain((byte)(ChannelGain.UnityLevel + d), false);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = 2 * Frames)]
    public void Scalar()
    {
        GainStage.ApplyScalar(_buffer, Format, Channels, _down);
        GainStage.ApplyScalar(_buffer, Format, Channels, _up);
    }

    [Benchmark(OperationsPerInvoke = 2 * Frames)]
    public void Simd()
    {
        GainStage.Apply(_buffer, Format, Channels, _down);
        GainStage.Apply(_buffer, Format, Channels, _up);
    }
}

/// <summary>Default config plus the samples/s column.</summary>
public class ThroughputConfig : ManualConfig
{
    public ThroughputConfig() => AddColumn(new SamplesPerSecondColumn());
}
