using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.Devices.Tests.Audio.Dsp;

/// <summary>
/// Spec §13 format conversion: left-justify integers to 32 bits then truncate; integer → float x32 / 2³¹; float →
/// integer clamp to [−1, 1 − 2⁻³¹] (NaN → 0), × 2³¹, round half to even, truncate; float → float keeps the bits;
/// channel c → c, missing channels zero; whole frames only. Values below are worked out by hand (raw container
/// bits; S16 in the low 16 bits, FLOAT_LE as IEEE bits).
/// </summary>
public sealed class SampleConversionTests
{
    private const SampleFormat S16 = SampleFormat.S16Le;
    private const SampleFormat S24 = SampleFormat.S24Le;
    private const SampleFormat S32 = SampleFormat.S32Le;
    private const SampleFormat F32 = SampleFormat.FloatLe;

    private static AudioFormat Fmt(SampleFormat format, int channels, int rate = 48000) => new(format, rate, channels);

    private static uint ConvertOne(SampleFormat from, uint raw, SampleFormat to)
    {
        byte[] source = DspTestData.Encode(from, raw);
        var destination = new byte[to.BytesPerSample()];
        SampleConversion.Convert(source, Fmt(from, 1), destination, Fmt(to, 1));
        return DspTestData.Read(destination, to);
    }

    [Theory]
    // S16 →: « 16, then » to the target
    [InlineData(S16, 0x8000u, S16, 0x8000u)]
    [InlineData(S16, 0x4000u, S24, 0x00400000u)]
    [InlineData(S16, 0x7FFFu, S24, 0x007FFF00u)]
    [InlineData(S16, 0xFFFFu, S24, 0xFFFFFF00u)] // −1 « 16 » 8 = −256, sign-extended in the container
    [InlineData(S16, 0x8000u, S24, 0xFF800000u)]
    [InlineData(S16, 0x4000u, S32, 0x40000000u)]
    [InlineData(S16, 0x8000u, S32, 0x80000000u)]
    [InlineData(S16, 0xFFFFu, S32, 0xFFFF0000u)]
    [InlineData(S16, 0x4000u, F32, 0x3F000000u)] // 0x40000000 / 2³¹ = 0.5
    [InlineData(S16, 0x8000u, F32, 0xBF800000u)] // −1.0
    [InlineData(S16, 0x7FFFu, F32, 0x3F7FFE00u)] // 32767 / 32768
    [InlineData(S16, 0xFFFFu, F32, 0xB8000000u)] // −2⁻¹⁵
    [InlineData(S16, 0x0000u, F32, 0x00000000u)] // +0.0
    // S24 →: bits 23:0 sign-extended « 8 (top byte ignored)
    [InlineData(S24, 0x00123456u, S16, 0x1234u)]
    [InlineData(S24, 0xAB123456u, S16, 0x1234u)]
    [InlineData(S24, 0x00FFFFFFu, S16, 0xFFFFu)] // −1 « 8 » 16 = −1 (truncation floors)
    [InlineData(S24, 0x00800000u, S16, 0x8000u)]
    [InlineData(S24, 0x007FFFFFu, S16, 0x7FFFu)]
    [InlineData(S24, 0xAB123456u, S24, 0xAB123456u)] // same format and channels: a plain copy
    [InlineData(S24, 0x007FFFFFu, S32, 0x7FFFFF00u)]
    [InlineData(S24, 0xAB800000u, S32, 0x80000000u)]
    [InlineData(S24, 0x00FFFFFFu, S32, 0xFFFFFF00u)]
    [InlineData(S24, 0x00400000u, F32, 0x3F000000u)]
    [InlineData(S24, 0x00800000u, F32, 0xBF800000u)]
    [InlineData(S24, 0xFF000001u, F32, 0x34000000u)] // 256 / 2³¹ = 2⁻²³
    // S32 →
    [InlineData(S32, 0x7FFFFFFFu, S16, 0x7FFFu)]
    [InlineData(S32, 0x0001FFFFu, S16, 0x0001u)]
    [InlineData(S32, 0x0000FFFFu, S16, 0x0000u)]
    [InlineData(S32, 0xFFFFFFFFu, S16, 0xFFFFu)]
    [InlineData(S32, 0x80000000u, S16, 0x8000u)]
    [InlineData(S32, 0x12345678u, S24, 0x00123456u)]
    [InlineData(S32, 0x80000000u, S24, 0xFF800000u)]
    [InlineData(S32, 0xFFFFFFFFu, S24, 0xFFFFFFFFu)]
    [InlineData(S32, 0x89ABCDEFu, S32, 0x89ABCDEFu)]
    [InlineData(S32, 0x40000000u, F32, 0x3F000000u)]
    [InlineData(S32, 0x7FFFFFFFu, F32, 0x3F800000u)] // (2³¹ − 1) / 2³¹ rounds up to 1.0f
    [InlineData(S32, 0x00000001u, F32, 0x30000000u)] // 2⁻³¹
    [InlineData(S32, 0x01000001u, F32, 0x3C000000u)] // (2²⁴ + 1) / 2³¹: 25 significant bits, the tie goes to even
    [InlineData(S32, 0x80000000u, F32, 0xBF800000u)]
    // FLOAT →: clamp to [−1, 1 − 2⁻³¹], × 2³¹, round half to even, then » to the target
    [InlineData(F32, 0x3F000000u, S16, 0x4000u)] // 0.5
    [InlineData(F32, 0x3F800000u, S16, 0x7FFFu)] // 1.0 → 2³¹ − 1 → 0x7FFF
    [InlineData(F32, 0xBF800000u, S16, 0x8000u)] // −1.0 → −2³¹ → −32768
    [InlineData(F32, 0x40000000u, S16, 0x7FFFu)] // 2.0 clamps
    [InlineData(F32, 0xC0000000u, S16, 0x8000u)] // −2.0 clamps
    [InlineData(F32, 0x7F800000u, S16, 0x7FFFu)] // +Inf clamps
    [InlineData(F32, 0xFF800000u, S16, 0x8000u)] // −Inf clamps
    [InlineData(F32, 0x7FC00000u, S16, 0x0000u)] // NaN → 0
    [InlineData(F32, 0x7F800001u, S16, 0x0000u)] // signalling NaN → 0
    [InlineData(F32, 0xB0000000u, S16, 0xFFFFu)] // −2⁻³¹ → −1 → » 16 = −1
    [InlineData(F32, 0x38000000u, S16, 0x0001u)] // 2⁻¹⁵
    [InlineData(F32, 0x3F000000u, S24, 0x00400000u)]
    [InlineData(F32, 0x3F800000u, S24, 0x007FFFFFu)]
    [InlineData(F32, 0xBF800000u, S24, 0xFF800000u)]
    [InlineData(F32, 0xFFC12345u, S24, 0x00000000u)]
    [InlineData(F32, 0xB0000000u, S24, 0xFFFFFFFFu)]
    [InlineData(F32, 0x3F000000u, S32, 0x40000000u)]
    [InlineData(F32, 0x3F800000u, S32, 0x7FFFFFFFu)]
    [InlineData(F32, 0xBF800000u, S32, 0x80000000u)]
    [InlineData(F32, 0x3FC00000u, S32, 0x7FFFFFFFu)] // 1.5 clamps
    [InlineData(F32, 0x3F7FFFFFu, S32, 0x7FFFFF80u)] // 1 − 2⁻²⁴ → 2³¹ − 2⁷
    [InlineData(F32, 0x2F800000u, S32, 0x00000000u)] // 2⁻³² → 0.5 → 0 (tie to even)
    [InlineData(F32, 0x30400000u, S32, 0x00000002u)] // 3 × 2⁻³² → 1.5 → 2
    [InlineData(F32, 0x30A00000u, S32, 0x00000002u)] // 5 × 2⁻³² → 2.5 → 2
    [InlineData(F32, 0xB0400000u, S32, 0xFFFFFFFEu)] // −1.5 → −2
    [InlineData(F32, 0x80000000u, S32, 0x00000000u)] // −0.0 → 0
    [InlineData(F32, 0x00000001u, S32, 0x00000000u)] // smallest subnormal → 0
    [InlineData(F32, 0x7F800001u, F32, 0x7F800001u)] // same format: the bits
    public void One_sample_converts_as_the_spec_says(SampleFormat from, uint raw, SampleFormat to, uint expected)
    {
        uint actual = ConvertOne(from, raw, to);
        DspTestData.Hex(actual, to).Should().Be(DspTestData.Hex(expected, to));
    }

    [Fact]
    public void Every_pair_of_formats_has_hand_checked_values()
    {
        // Guards the table above: all 16 (from, to) pairs appear in it.
        var pairs = typeof(SampleConversionTests).GetMethod(nameof(One_sample_converts_as_the_spec_says))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => a.GetData(null!).Single())
            .Select(d => ((SampleFormat)d[0], (SampleFormat)d[2]))
            .ToHashSet();
        pairs.Should().HaveCount(16);
    }

    [Fact]
    public void S16_to_S32_to_float_chains()
    {
        ConvertOne(S16, 0x4000, S32).Should().Be(0x40000000u);
        ConvertOne(S32, 0x40000000, F32).Should().Be(BitConverter.SingleToUInt32Bits(0.5f));
        ConvertOne(F32, BitConverter.SingleToUInt32Bits(0.5f), S16).Should().Be(0x4000u);
    }

    [Fact]
    public void Integer_to_float_is_exact_division_in_double_then_one_rounding()
    {
        // Independent check over a spread of S32 values: x / 2³¹ in double, cast to float.
        var rng = new Random(13);
        int[] x = [.. Enumerable.Range(0, 2000).Select(_ => rng.Next(int.MinValue, int.MaxValue)), int.MinValue, int.MaxValue, 0, 1, -1];
        byte[] source = DspTestData.EncodeS32(S32, x);
        var destination = new byte[source.Length];
        SampleConversion.Convert(source, Fmt(S32, 1), destination, Fmt(F32, 1));
        DspTestData.Decode(F32, destination).Should().Equal(x.Select(v => BitConverter.SingleToUInt32Bits((float)(v / 2147483648.0))));
    }

    [Fact]
    public void More_destination_channels_are_zero()
    {
        byte[] source = DspTestData.EncodeS16(1, 2, 3, 4);
        var destination = new byte[32];
        destination.AsSpan().Fill(0xCC);
        SampleConversion.Convert(source, Fmt(S16, 2), destination, Fmt(S32, 4));
        DspTestData.DecodeS32(S32, destination).Should().Equal(1 << 16, 2 << 16, 0, 0, 3 << 16, 4 << 16, 0, 0);

        // Float: the missing channels are +0.0; mono → stereo does not duplicate channel 0.
        source = DspTestData.EncodeS16(0x4000, -0x4000);
        destination = new byte[16];
        destination.AsSpan().Fill(0xCC);
        SampleConversion.Convert(source, Fmt(S16, 1), destination, Fmt(F32, 2));
        DspTestData.Decode(F32, destination).Should().Equal(0x3F000000u, 0u, 0xBF000000u, 0u);
    }

    [Fact]
    public void Extra_source_channels_are_dropped()
    {
        byte[] source = DspTestData.EncodeS32(S32, 0x40000000, 2, 3, 4, int.MinValue, 6, 7, 8);
        var destination = new byte[4];
        SampleConversion.Convert(source, Fmt(S32, 4), destination, Fmt(S16, 1));
        DspTestData.DecodeS16(destination).Should().Equal(0x4000, -32768);

        destination = new byte[16];
        SampleConversion.Convert(source, Fmt(S32, 4), destination, Fmt(F32, 2));
        DspTestData.Decode(F32, destination).Should().Equal(
            0x3F000000u, BitConverter.SingleToUInt32Bits((float)(2 / 2147483648.0)),
            0xBF800000u, BitConverter.SingleToUInt32Bits((float)(6 / 2147483648.0)));
    }

    [Fact]
    public void Float_to_float_keeps_bits_when_the_channel_count_changes()
    {
        byte[] source = DspTestData.Encode(F32, 0x7F800001, 0xFFC12345, 0x80000000, 0x00000001);
        var destination = new byte[24];
        SampleConversion.Convert(source, Fmt(F32, 2), destination, Fmt(F32, 3));
        DspTestData.Decode(F32, destination).Should().Equal(0x7F800001u, 0xFFC12345u, 0u, 0x80000000u, 0x00000001u, 0u);
    }

    [Fact]
    public void S24_to_S24_with_another_channel_count_rewrites_the_container_sign_extended()
    {
        // Only an identical format (and channel count) is a plain copy; otherwise §13's left-justify-then-truncate
        // runs, and S24 output is always sign-extended.
        byte[] source = DspTestData.Encode(S24, 0xAB123456, 0x12800000);
        var destination = new byte[4];
        SampleConversion.Convert(source, Fmt(S24, 2), destination, Fmt(S24, 1));
        DspTestData.Decode(S24, destination).Should().Equal(0x00123456u);

        destination = new byte[8];
        SampleConversion.Convert(source.AsSpan(4, 4), Fmt(S24, 1), destination, Fmt(S24, 2));
        DspTestData.Decode(S24, destination).Should().Equal(0xFF800000u, 0u);
    }

    [Fact]
    public void Same_format_and_channels_is_a_plain_copy_and_rates_are_ignored()
    {
        byte[] source = DspTestData.Encode(S24, 0xAB123456, 0xCD000001, 0x00FFFFFF, 0x7F000000);
        var destination = new byte[20];
        destination.AsSpan().Fill(0xCC);
        SampleConversion.Convert(source, Fmt(S24, 2, 44100), destination, Fmt(S24, 2, 192000));
        destination.AsSpan(0, 16).ToArray().Should().Equal(source);
        destination.AsSpan(16).ToArray().Should().AllBeEquivalentTo((byte)0xCC, "bytes past the converted frames stay");

        // Rates are not converted: a conversion with differing rates is frame for frame.
        destination = new byte[8];
        SampleConversion.Convert(DspTestData.EncodeS16(0x4000, 0x2000), Fmt(S16, 2, 44100), destination, Fmt(F32, 2, 96000));
        DspTestData.Decode(F32, destination).Should().Equal(0x3F000000u, 0x3E800000u);
    }

    [Fact]
    public void Destination_bytes_past_the_frames_are_untouched()
    {
        byte[] source = DspTestData.EncodeS16(1, 2, 3);
        var destination = new byte[32];
        destination.AsSpan().Fill(0xCC);
        SampleConversion.Convert(source, Fmt(S16, 1), destination, Fmt(S32, 2));
        DspTestData.DecodeS32(S32, destination.AsSpan(0, 24)).Should().Equal(1 << 16, 0, 2 << 16, 0, 3 << 16, 0);
        destination.AsSpan(24).ToArray().Should().AllBeEquivalentTo((byte)0xCC);
    }

    [Fact]
    public void Empty_source_converts_nothing()
    {
        var destination = new byte[4];
        SampleConversion.Convert([], Fmt(S16, 2), destination, Fmt(F32, 1));
        SampleConversion.Convert([], Fmt(S16, 2), [], Fmt(F32, 1));
        destination.Should().Equal(0, 0, 0, 0);
    }

    [Fact]
    public void Partial_frames_small_destinations_overlap_and_bad_formats_are_rejected()
    {
        var buffer = new byte[64];
        Action partialFrame = () => SampleConversion.Convert(buffer.AsSpan(0, 6), Fmt(S16, 2), new byte[64], Fmt(S32, 2));
        Action tooSmall = () => SampleConversion.Convert(buffer.AsSpan(0, 8), Fmt(S16, 2), new byte[15], Fmt(S32, 2));
        Action overlap = () => SampleConversion.Convert(buffer.AsSpan(0, 8), Fmt(S16, 2), buffer.AsSpan(4, 16), Fmt(S32, 2));
        Action noChannels = () => SampleConversion.Convert(buffer.AsSpan(0, 8), Fmt(S16, 0), new byte[64], Fmt(S32, 2));
        Action undefined = () => SampleConversion.Convert(buffer.AsSpan(0, 8), Fmt(S16, 2), new byte[64], Fmt((SampleFormat)7, 2));

        partialFrame.Should().Throw<ArgumentException>();
        tooSmall.Should().Throw<ArgumentException>();
        overlap.Should().Throw<ArgumentException>();
        noChannels.Should().Throw<ArgumentOutOfRangeException>();
        undefined.Should().Throw<ArgumentOutOfRangeException>();

        // Exactly big enough is fine; a same-format copy may overlap (it is a memmove).
        SampleConversion.Convert(buffer.AsSpan(0, 8), Fmt(S16, 2), new byte[16], Fmt(S32, 2));
        SampleConversion.Convert(buffer.AsSpan(0, 8), Fmt(S16, 2), buffer.AsSpan(2, 8), Fmt(S16, 2));
    }

    [Fact]
    public void Convert_does_not_allocate()
    {
        var source = new byte[4096 * 8];
        DspTestData.FillRandom(new Random(5), source, F32);
        var destination = new byte[4 * source.Length];
        void RunAll()
        {
            foreach (SampleFormat from in DspTestData.Formats)
            {
                foreach (SampleFormat to in DspTestData.Formats)
                {
                    SampleConversion.Convert(source, Fmt(from, 2), destination, Fmt(to, 2));
                    SampleConversion.Convert(source.AsSpan(0, 4096), Fmt(from, 4), destination, Fmt(to, 3));
                }
            }
        }

        RunAll(); // JIT and tier-up first
        RunAll();
        SteadyStateAllocation.OnThisThread(RunAll).Should().Be(0);
    }
}
