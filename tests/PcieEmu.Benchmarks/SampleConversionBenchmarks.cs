using BenchmarkDotNet.Attributes;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;

namespace PcieEmu.Benchmarks;

/// <summary>
/// <see cref="SampleConversion.Convert"/> for the two common directions of a loopback between streams of different
/// formats, 4096 frames; Mean is per frame.
/// </summary>
[Config(typeof(ThroughputConfig))]
public class SampleConversionBenchmarks
{
    public const int Frames = 4096;

    private byte[] _s16 = [];
    private byte[] _float = [];
    private byte[] _destination = [];

    [Params(2, 8)]
    public int Channels { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _s16 = new byte[Frames * Channels * 2];
        _float = new byte[Frames * Channels * 4];
        _destination = new byte[Frames * Channels * 4];
        BenchmarkData.FillHalfScale(_s16, SampleFormat.S16Le);
        BenchmarkData.FillHalfScale(_float, SampleFormat.FloatLe);
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public void S16ToFloat() => SampleConversion.Convert(
        _s16, new AudioFormat(SampleFormat.S16Le, 48000, Channels),
        _destination, new AudioFormat(SampleFormat.FloatLe, 48000, Channels));

    [Benchmark(OperationsPerInvoke = Frames)]
    public void FloatToS32() => SampleConversion.Convert(
        _float, new AudioFormat(SampleFormat.FloatLe, 48000, Channels),
        _destination, new AudioFormat(SampleFormat.S32Le, 48000, Channels));
}
