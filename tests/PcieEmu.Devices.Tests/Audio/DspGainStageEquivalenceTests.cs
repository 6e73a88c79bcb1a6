using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;

namespace PcieEmu.Devices.Tests.Audio.Dsp;

/// <summary>
/// Spec §12, implementation contract: <see cref="GainStage.Apply"/> (and every vector kernel this machine runs)
/// writes exactly the bytes <see cref="GainStage.ApplyScalar"/> writes, for every format, channel count 1..32, frame
/// count, gain and sample value (edges included: ±full scale, ±0.0, subnormals, ±Inf, NaNs, huge floats, S24
/// containers with garbage top bytes), at any byte alignment. Seeds are fixed, so a failure reproduces.
/// </summary>
public sealed class GainStageEquivalenceTests
{
    private static readonly int[] LargeFrameCounts = [1000, 2053, 4099];

    public static TheoryData<SampleFormat, int> FormatsAndChannels()
    {
        var data = new TheoryData<SampleFormat, int>();
        foreach (SampleFormat format in DspTestData.Formats)
        {
            for (int channels = 1; channels <= GainStage.MaxChannels; channels++)
            {
                data.Add(format, channels);
            }
        }

        return data;
    }

    private static IEnumerable<GainKernel> SupportedKernels() =>
        Enum.GetValues<GainKernel>().Where(GainStage.IsSupported);

    [Fact]
    public void This_machine_runs_a_vector_kernel()
    {
        // Not a contract (a machine without SIMD would run the scalar loop); it guards against the equivalence
        // tests silently comparing the scalar loop with itself on the CI machine.
        SupportedKernels().Should().Contain(GainKernel.Vector128);
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            GainStage.BestKernel.Should().Be(GainKernel.Vector256);
        }
    }

    [Theory]
    [MemberData(nameof(FormatsAndChannels))]
    public void Every_kernel_writes_the_scalar_bytes_for_0_to_67_frames_at_every_alignment(SampleFormat format, int channels)
    {
        var rng = new Random((1000 * (int)format) + channels);
        for (int frames = 0; frames <= 67; frames++)
        {
            for (int misalign = 0; misalign < 4; misalign++)
            {
                CheckOne(rng, format, channels, frames, misalign);
            }
        }
    }

    [Theory]
    [MemberData(nameof(FormatsAndChannels))]
    public void Every_kernel_writes_the_scalar_bytes_for_thousands_of_frames(SampleFormat format, int channels)
    {
        var rng = new Random((7000 * (int)format) + channels);
        foreach (int frames in LargeFrameCounts)
        {
            CheckOne(rng, format, channels, frames, misalign: frames % 4);
        }
    }

    [Theory]
    [InlineData(SampleFormat.S16Le)]
    [InlineData(SampleFormat.S24Le)]
    [InlineData(SampleFormat.S32Le)]
    public void Every_kernel_rounds_exact_halves_like_the_scalar(SampleFormat format)
    {
        // §12 ties: at LEVEL 152 (g = 0.1) and 112 (g = 0.01) the double products 5 × 0.1, 15 × 0.1, 50 × 0.01, …
        // are exactly k + ½, so every kernel must round them half to even, not away from zero.
        int[] values = [.. Enumerable.Range(-40, 81).Select(k => 5 * k), .. Enumerable.Range(-40, 81).Select(k => 50 * k)];
        byte[] input = DspTestData.EncodeS32(format, values);
        if (format == SampleFormat.S16Le)
        {
            input = DspTestData.EncodeS16([.. values.Select(v => (short)v)]);
        }

        foreach (int channels in new[] { 1, 2, 3, 8 })
        {
            int samples = values.Length - (values.Length % channels);
            byte[] data = input[..(samples * format.BytesPerSample())];
            ChannelGain[] gains = [.. Enumerable.Range(0, channels).Select(c => new ChannelGain(c % 2 == 0 ? (byte)152 : (byte)112, false))];
            AssertAllKernelsMatchScalar(data, format, channels, gains, $"ties, {channels} ch");
        }
    }

    private static void CheckOne(Random rng, SampleFormat format, int channels, int frames, int misalign)
    {
        int length = frames * channels * format.BytesPerSample();
        var input = new byte[length];
        DspTestData.FillRandom(rng, input, format);

        // Extra gains beyond the channel count are allowed and must be ignored.
        ChannelGain[] gains = DspTestData.RandomGains(rng, channels + rng.Next(3));
        AssertAllKernelsMatchScalar(input, format, channels, gains, $"{frames} frames, misaligned by {misalign}", misalign);
    }

    private static void AssertAllKernelsMatchScalar(
        byte[] input, SampleFormat format, int channels, ChannelGain[] gains, string what, int misalign = 0)
    {
        byte[] expected = (byte[])input.Clone();
        GainStage.ApplyScalar(expected, format, channels, gains);

        // The buffer under test sits misaligned inside a larger one whose guard bytes must survive.
        var buffer = new byte[input.Length + 8];
        // null: the public Apply (whatever kernel it picks); then each kernel explicitly.
        foreach (GainKernel? kernel in SupportedKernels().Cast<GainKernel?>().Prepend(null))
        {
            buffer.AsSpan().Fill(0xA5);
            Span<byte> frames = buffer.AsSpan(misalign, input.Length);
            input.CopyTo(frames);
            if (kernel is { } k)
            {
                GainStage.Apply(k, frames, format, channels, gains);
            }
            else
            {
                GainStage.Apply(frames, format, channels, gains);
            }

            if (!frames.SequenceEqual(expected))
            {
                string name = kernel?.ToString() ?? $"Apply ({GainStage.BestKernel})";
                Assert.Fail(Describe(input, expected, frames.ToArray(), format, channels, gains, $"{name}: {what}"));
            }

            if (buffer.AsSpan(0, misalign).ContainsAnyExcept((byte)0xA5) || buffer.AsSpan(misalign + input.Length).ContainsAnyExcept((byte)0xA5))
            {
                Assert.Fail($"{kernel?.ToString() ?? "Apply"}: {what}: wrote outside the span");
            }
        }
    }

    private static string Describe(
        byte[] input, byte[] expected, byte[] actual, SampleFormat format, int channels, ChannelGain[] gains, string what)
    {
        int size = format.BytesPerSample();
        int index = 0;
        while (expected[index] == actual[index])
        {
            index++;
        }

        int sample = index / size;
        int channel = sample % channels;
        ReadOnlySpan<byte> At(byte[] b) => b.AsSpan(sample * size, size);
        return $"{format} {channels} ch, {what}: sample {sample} (channel {channel}, gain {gains[channel]}) " +
            $"in {DspTestData.Hex(DspTestData.Read(At(input), format), format)} " +
            $"expected {DspTestData.Hex(DspTestData.Read(At(expected), format), format)} " +
            $"got {DspTestData.Hex(DspTestData.Read(At(actual), format), format)}";
    }
}
