using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.Devices.Tests.Audio.Dsp;

/// <summary>
/// Spec §12 values: the scalar reference (and, through the same checks, the vectorised stage) against numbers
/// worked out independently here — by hand, or with Math.Pow / Math.Round(…, ToEven) written out in the test.
/// </summary>
public sealed class GainStageSpecTests
{
    internal delegate void GainFunction(Span<byte> frames, SampleFormat format, int channels, ReadOnlySpan<ChannelGain> gains);

    public static TheoryData<string> Implementations() => new() { "scalar", "simd" };

    private static GainFunction Pick(string implementation) =>
        implementation == "scalar" ? GainStage.ApplyScalar : GainStage.Apply;

    private static ChannelGain[] Level(byte level, int channels = 1) => [.. Enumerable.Repeat(new ChannelGain(level, false), channels)];

    /// <summary>g = 10^((LEVEL − 192) / 40), §12, written out independently of <see cref="ChannelGain.Factor"/>.</summary>
    private static double G(int level) => Math.Pow(10.0, (level - 192) / 40.0);

    private static long SpecInteger(long x, int level, long min, long max) =>
        Math.Clamp((long)Math.Round(x * G(level), MidpointRounding.ToEven), min, max);

    [Theory]
    [MemberData(nameof(Implementations))]
    public void All_unity_gains_leave_every_byte_untouched(string implementation)
    {
        GainFunction apply = Pick(implementation);

        // S24 containers with garbage top bytes, signalling and quiet NaNs with payloads: bit-exact pass-through.
        // The gains array is longer than the channel count; its extra (non-unity) entries are ignored.
        ChannelGain[] gains = [ChannelGain.Unity, ChannelGain.Unity, new(0, true)];
        foreach (SampleFormat format in DspTestData.Formats)
        {
            byte[] data = DspTestData.Encode(format, 0xAB123456, 0x7F800001, 0xFFA00000, 0x12FFFFFF, 0x80000000, 0x7FC12345, 0xCD800000, 0x00000001);
            byte[] before = (byte[])data.Clone();
            apply(data, format, 2, gains);
            data.Should().Equal(before, $"{format} at unity is a pass-through");
        }
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Level_180_is_minus_6_dB_rounded_half_to_even(string implementation)
    {
        GainFunction apply = Pick(implementation);

        // g = 10^(−12/40) = 0.501187233627…: 16384 g = 8211.45, 32767 g = 16422.40, −32768 g = −16422.90,
        // 1 g = 0.50119 (above a half, so 1), 3 g = 1.5036.
        short[] s16 = [16384, -16384, 32767, -32768, 1, 3, 0, -1];
        byte[] data = DspTestData.EncodeS16(s16);
        apply(data, SampleFormat.S16Le, 1, Level(180));
        DspTestData.DecodeS16(data).Should().Equal(8211, -8211, 16422, -16423, 1, 2, 0, -1);
        DspTestData.DecodeS16(data).Should().Equal(s16.Select(x => (short)SpecInteger(x, 180, short.MinValue, short.MaxValue)));

        int[] s24 = [0x7FFFFF, -0x800000, 1 << 22];
        data = DspTestData.EncodeS32(SampleFormat.S24Le, s24);
        apply(data, SampleFormat.S24Le, 1, Level(180));
        DspTestData.DecodeS32(SampleFormat.S24Le, data).Should().Equal(4204263, -4204263, 2102132);

        int[] s32 = [int.MaxValue, int.MinValue, 12345];
        data = DspTestData.EncodeS32(SampleFormat.S32Le, s32);
        apply(data, SampleFormat.S32Le, 1, Level(180));
        DspTestData.DecodeS32(SampleFormat.S32Le, data).Should().Equal(1076291388, -1076291389, 6187);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Float_is_scaled_in_double_and_narrowed_once(string implementation)
    {
        GainFunction apply = Pick(implementation);
        float[] x = [0.1f, -1.0f, 0.5f, 3.0e-39f /* subnormal */, -0.0f, 1e30f];
        byte[] data = DspTestData.EncodeFloat(x);
        apply(data, SampleFormat.FloatLe, 1, Level(180));
        uint[] actual = DspTestData.Decode(SampleFormat.FloatLe, data);
        actual.Should().Equal(x.Select(v => BitConverter.SingleToUInt32Bits((float)((double)v * G(180)))));

        // Hand-checked: 0.1f × g in double, then rounded once to float; float arithmetic (0.1f × (float)g) would
        // give 0x3D4D494A instead. −1 × g = −0.50118723… → 0xBF004DCE.
        actual[0].Should().Be(0x3D4D494Bu);
        BitConverter.SingleToUInt32Bits(0.1f * (float)G(180)).Should().Be(0x3D4D494Au, "the cheaper float product differs");
        actual[1].Should().Be(0xBF004DCEu);
        actual[4].Should().Be(0x80000000u, "−0.0 × g stays −0.0 (only MUTE gives +0.0)");
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Level_255_is_plus_31_5_dB_and_saturates_integers_but_not_floats(string implementation)
    {
        GainFunction apply = Pick(implementation);

        // g = 10^(63/40) = 37.5837404288…
        byte[] data = DspTestData.EncodeS16(800, -800, 1000, -1000, short.MaxValue, short.MinValue);
        apply(data, SampleFormat.S16Le, 1, Level(255));
        DspTestData.DecodeS16(data).Should().Equal(30067, -30067, 32767, -32768, 32767, -32768);

        data = DspTestData.EncodeS32(SampleFormat.S24Le, 200000, -200000, 250000, -250000, 0x7FFFFF, -0x800000);
        apply(data, SampleFormat.S24Le, 1, Level(255));
        DspTestData.DecodeS32(SampleFormat.S24Le, data).Should().Equal(7516748, -7516748, 0x7FFFFF, -0x800000, 0x7FFFFF, -0x800000);

        data = DspTestData.EncodeS32(SampleFormat.S32Le, 50_000_000, -50_000_000, 100_000_000, -100_000_000, int.MaxValue, int.MinValue);
        apply(data, SampleFormat.S32Le, 1, Level(255));
        DspTestData.DecodeS32(SampleFormat.S32Le, data).Should().Equal(
            1879187021, -1879187021, int.MaxValue, int.MinValue, int.MaxValue, int.MinValue);

        data = DspTestData.EncodeFloat(0.5f, -0.25f, 1.0f, float.MaxValue, -float.MaxValue);
        apply(data, SampleFormat.FloatLe, 1, Level(255));
        DspTestData.Decode(SampleFormat.FloatLe, data).Should().Equal(
            0x419655C0u, 0xC11655C0u, BitConverter.SingleToUInt32Bits((float)G(255)), 0x7F800000u, 0xFF800000u);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Level_0_is_minus_96_dB(string implementation)
    {
        GainFunction apply = Pick(implementation);

        // g = 10^(−192/40) = 1.5848931924…e−5: full-scale S32 becomes ±34035.32 → ±34035; S16 full scale 0.519 → 1.
        byte[] data = DspTestData.EncodeS32(SampleFormat.S32Le, int.MaxValue, int.MinValue, 1_000_000);
        apply(data, SampleFormat.S32Le, 1, Level(0));
        DspTestData.DecodeS32(SampleFormat.S32Le, data).Should().Equal(34035, -34035, 16);

        data = DspTestData.EncodeS16(short.MaxValue, short.MinValue, 30000);
        apply(data, SampleFormat.S16Le, 1, Level(0));
        DspTestData.DecodeS16(data).Should().Equal(1, -1, 0);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Exact_halves_round_to_even(string implementation)
    {
        GainFunction apply = Pick(implementation);

        // LEVEL 152 is −20 dB: g = 10^−1 = 0.1 (the double nearest). In double, 5 × 0.1 = 0.5, 15 × 0.1 = 1.5,
        // 25 × 0.1 = 2.5, 35 × 0.1 = 3.5 exactly (the representation error is below half an ulp), so these are the
        // §12 ties; half-to-even gives 0, 2, 2, 4 where half-away-from-zero would give 1, 2, 3, 4.
        int[] x = [5, 15, 25, 35, -5, -15, -25, -35];
        foreach (int v in x)
        {
            double product = v * G(152);
            (product - Math.Truncate(product)).Should().Be(v > 0 ? 0.5 : -0.5, $"{v} × 0.1 is a tie in double (test precondition)");
        }

        int[] expected = [0, 2, 2, 4, 0, -2, -2, -4];
        byte[] data = DspTestData.EncodeS16([.. x.Select(v => (short)v)]);
        apply(data, SampleFormat.S16Le, 1, Level(152));
        DspTestData.DecodeS16(data).Select(v => (int)v).Should().Equal(expected);

        foreach (SampleFormat format in new[] { SampleFormat.S24Le, SampleFormat.S32Le })
        {
            data = DspTestData.EncodeS32(format, x);
            apply(data, format, 1, Level(152));
            DspTestData.DecodeS32(format, data).Should().Equal(expected, $"{format} rounds the same ties");
        }

        // LEVEL 112 (−40 dB, g = 0.01): 50 → 0.5 → 0, 150 → 1.5 → 2, 250 → 2.5 → 2, −50 → −0.5 → 0.
        data = DspTestData.EncodeS32(SampleFormat.S32Le, 50, 150, 250, -50, -150);
        apply(data, SampleFormat.S32Le, 1, Level(112));
        DspTestData.DecodeS32(SampleFormat.S32Le, data).Should().Equal(0, 2, 2, 0, -2);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Mute_writes_zero_and_positive_zero(string implementation)
    {
        GainFunction apply = Pick(implementation);
        ChannelGain[] mute = [new(192, true)];

        byte[] data = DspTestData.EncodeFloat(-1.0f, float.NaN, float.NegativeInfinity, -0.0f, float.Epsilon, float.MaxValue, -3.0e-39f, 1.0f);
        apply(data, SampleFormat.FloatLe, 1, mute);
        DspTestData.Decode(SampleFormat.FloatLe, data).Should().AllBeEquivalentTo(0u, "MUTE is +0.0 whatever the input");

        data = DspTestData.Encode(SampleFormat.S24Le, 0xAB800000, 0x007FFFFF, 0xFF000001, 0x12000000, 0, 0, 0, 0);
        apply(data, SampleFormat.S24Le, 1, mute);
        DspTestData.Decode(SampleFormat.S24Le, data).Should().AllBeEquivalentTo(0u, "the whole container is the sign extension of 0");

        data = DspTestData.EncodeS16(short.MinValue, short.MaxValue, -1, 1, 0, 7, 8, 9);
        apply(data, SampleFormat.S16Le, 1, [new(255, true)]);
        DspTestData.DecodeS16(data).Should().AllBeEquivalentTo((short)0, "MUTE wins over any LEVEL");

        data = DspTestData.EncodeS32(SampleFormat.S32Le, int.MinValue, int.MaxValue, -1, 1, 0, 7, 8, 9);
        apply(data, SampleFormat.S32Le, 1, [new(0, true)]);
        DspTestData.DecodeS32(SampleFormat.S32Le, data).Should().AllBeEquivalentTo(0);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Each_channel_gets_its_own_gain(string implementation)
    {
        GainFunction apply = Pick(implementation);

        // Three channels: unity, muted, −6 dB; nine frames so the vector kernels see a full step and a tail.
        ChannelGain[] gains = [ChannelGain.Unity, new(192, true), new(180, false)];
        short[] frames = [.. Enumerable.Range(0, 9).SelectMany(f => new short[] { (short)(1000 + f), 2000, 16384 })];
        byte[] data = DspTestData.EncodeS16(frames);
        apply(data, SampleFormat.S16Le, 3, gains);
        short[] result = DspTestData.DecodeS16(data);
        for (int f = 0; f < 9; f++)
        {
            result.Skip(f * 3).Take(3).Should().Equal((short)(1000 + f), (short)0, (short)8211);
        }
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void A_non_unity_call_recomputes_unity_channels_too(string implementation)
    {
        GainFunction apply = Pick(implementation);
        ChannelGain[] gains = [ChannelGain.Unity, new(180, false)];

        // S24: the unity channel's container is rewritten sign-extended (its value unchanged).
        byte[] data = DspTestData.Encode(SampleFormat.S24Le, 0xAB000001, 0, 0x12FFFFFF, 0);
        apply(data, SampleFormat.S24Le, 2, gains);
        DspTestData.Decode(SampleFormat.S24Le, data).Should().Equal(0x00000001u, 0u, 0xFFFFFFFFu, 0u);

        // FLOAT_LE: a signalling NaN comes out quiet with its payload (documented on GainStage); a quiet NaN keeps
        // its bits; ordinary values are unchanged at g = 1.
        data = DspTestData.Encode(SampleFormat.FloatLe, 0x7F800001, 0, 0xFFC12345, 0, 0x3DCCCCCD, 0);
        apply(data, SampleFormat.FloatLe, 2, gains);
        uint[] result = DspTestData.Decode(SampleFormat.FloatLe, data);
        result[0].Should().Be(0x7FC00001u);
        result[2].Should().Be(0xFFC12345u);
        result[4].Should().Be(0x3DCCCCCDu);
    }

    [Fact]
    public void Bad_arguments_are_rejected()
    {
        var data = new byte[16];
        ChannelGain[] two = [new(180, false), new(180, false)];
        Action undefinedFormat = () => GainStage.Apply(data, (SampleFormat)4, 2, two);
        Action zeroChannels = () => GainStage.Apply(data, SampleFormat.S16Le, 0, two);
        Action tooManyChannels = () => GainStage.ApplyScalar(new byte[66], SampleFormat.S16Le, 33, new ChannelGain[33]);
        Action tooFewGains = () => GainStage.Apply(data, SampleFormat.S16Le, 4, two);
        Action partialFrame = () => GainStage.Apply(data.AsSpan(0, 6), SampleFormat.S32Le, 2, two);

        undefinedFormat.Should().Throw<ArgumentOutOfRangeException>();
        zeroChannels.Should().Throw<ArgumentOutOfRangeException>();
        tooManyChannels.Should().Throw<ArgumentOutOfRangeException>();
        tooFewGains.Should().Throw<ArgumentException>();
        partialFrame.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Neither_implementation_allocates_per_call()
    {
        var data = new byte[4096 * 8 * 4 + 12];
        DspTestData.FillRandom(new Random(3), data, SampleFormat.S32Le);
        ChannelGain[] gains = DspTestData.RandomGains(new Random(4), 32);
        gains[0] = new ChannelGain(100, true); // at least one mute and one non-unity channel
        gains[1] = new ChannelGain(17, false);
        ChannelGain[] unity = [.. Enumerable.Repeat(ChannelGain.Unity, 32)];
        int[] channelCounts = [1, 2, 3, 8, 31, 32];
        long RunAll()
        {
            long allocated = 0;
            foreach (SampleFormat format in DspTestData.Formats)
            {
                foreach (int channels in channelCounts)
                {
                    int frameBytes = format.BytesPerSample() * channels;
                    Span<byte> frames = data.AsSpan(1, (data.Length - 1) / frameBytes * frameBytes);
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    GainStage.Apply(frames, format, channels, gains);
                    GainStage.ApplyScalar(frames, format, channels, gains);
                    GainStage.Apply(frames[..(frameBytes * 5)], format, channels, gains);
                    GainStage.Apply(frames, format, channels, unity);
                    allocated += GC.GetAllocatedBytesForCurrentThread() - before;
                }
            }

            return allocated;
        }

        RunAll(); // JIT and tier-up first
        RunAll();
        SteadyStateAllocation.Quietest(RunAll, bytes => bytes).Should().Be(0);
    }
}
