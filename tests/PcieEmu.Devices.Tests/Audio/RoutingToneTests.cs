using System.Numerics;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.Tests.Audio.Wav;

namespace PcieEmu.Devices.Tests.Audio.Routing;

/// <summary>Spec §13 tone: round-half-to-even(A × FS × sin(2π F n / RATE)), FLOAT_LE (float)(A × sin(…)).</summary>
public sealed class RoutingToneTests
{
    private static byte[] ReadTone(string spec, AudioFormat format, long firstFrame, int frames)
    {
        using var tone = new ToneSource(spec);
        tone.Start(format).Should().BeNull();
        var b = new byte[frames * format.FrameBytes];
        tone.Read(b, firstFrame);
        return b;
    }

    [Fact]
    public void Quarter_rate_tone_hits_the_peaks_and_ties_round_to_even_in_every_integer_format()
    {
        // F = RATE/4: sin(2π n/4) = 0, 1, 0, −1. A × FS = FS/2 ends in .5 (FS is odd): a tie, rounded to the even
        // neighbour (16383.5 → 16384, not the truncated 16383). FS = 2^k − 1 makes (FS − 1)/2 odd, so at these
        // reachable ties half-to-even and half-away-from-zero agree; no decimal A gives a tie with an even floor.
        Samples.ToS16(ReadTone("12000@0.5", new(SampleFormat.S16Le, 48000, 1), 0, 4)).Should().Equal(0, 16384, 0, -16384);
        Samples.ToI32(ReadTone("12000@0.5", new(SampleFormat.S24Le, 48000, 1), 0, 4)).Should().Equal(0, 4194304, 0, -4194304);
        Samples.ToI32(ReadTone("12000@0.5", new(SampleFormat.S32Le, 48000, 1), 0, 4)).Should().Equal(0, 1073741824, 0, -1073741824);
        Samples.ToI32(ReadTone("11025@1", new(SampleFormat.S32Le, 44100, 1), 0, 4)).Should().Equal(0, int.MaxValue, 0, -int.MaxValue);
        Samples.ToS16(ReadTone("24000@1", new(SampleFormat.S16Le, 96000, 1), 1, 1)).Should().Equal(short.MaxValue);
    }

    [Fact]
    public void S24_samples_are_sign_extended_in_their_container()
    {
        byte[] b = ReadTone("12000@0.5", new(SampleFormat.S24Le, 48000, 1), 3, 1);
        b.Should().Equal(0x00, 0x00, 0xC0, 0xFF); // −4194304 = 0xFFC00000
    }

    [Fact]
    public void Float_is_a_times_sine_as_float()
    {
        float[] f = Samples.ToF32(ReadTone("12000@0.5", new(SampleFormat.FloatLe, 48000, 1), 0, 4));
        f[0].Should().Be(0f);
        f[1].Should().Be(0.5f);
        Math.Abs(f[2]).Should().BeLessThan(1e-15f);
        f[3].Should().Be(-0.5f);
    }

    [Fact]
    public void Sixth_of_a_turn_gives_the_hand_computed_values()
    {
        // F = RATE/12 = 4000 Hz @ 48000: n = 1 → sin(π/6) = 0.5, n = 2 → sin(π/3) = √3/2 = 0.8660254…; A = 0.5.
        // S16: 0.5 × 32767 × 0.5 = 8191.75 → 8192; 0.5 × 32767 × 0.8660254… = 14188.527… → 14189.
        Samples.ToS16(ReadTone("4000", new(SampleFormat.S16Le, 48000, 1), 1, 2)).Should().Equal(8192, 14189);
        // S24: 0.5 × 8388607 × 0.5 = 2097151.75 → 2097152; 0.5 × 8388607 × 0.8660254… = 3632373.38… → 3632373.
        Samples.ToI32(ReadTone("4000", new(SampleFormat.S24Le, 48000, 1), 1, 2)).Should().Equal(2097152, 3632373);
        // n = 7 → sin(7π/6) = −0.5: −8191.75 → −8192.
        Samples.ToS16(ReadTone("4000", new(SampleFormat.S16Le, 48000, 1), 7, 1)).Should().Equal(-8192);
    }

    public static TheoryData<string, SampleFormat, int> LiteralCases() => new()
    {
        { "440", SampleFormat.S16Le, 48000 },
        { "660@0.9", SampleFormat.S24Le, 44100 },
        { "1000.5@0.3", SampleFormat.S16Le, 96000 },
        { "997@1", SampleFormat.S24Le, 192000 },
        { "19999.123456@0.7", SampleFormat.S16Le, 44100 },
    };

    [Theory]
    [MemberData(nameof(LiteralCases))]
    public void Early_frames_equal_the_spec_formula_evaluated_literally(string spec, SampleFormat sampleFormat, int rate)
    {
        var (f, a) = SpecOf(spec);
        double fs = sampleFormat == SampleFormat.S16Le ? 32767 : 8388607;
        var format = new AudioFormat(sampleFormat, rate, 1);
        byte[] b = ReadTone(spec, format, 0, 2000);
        int[] got = sampleFormat == SampleFormat.S16Le ? [.. Samples.ToS16(b).Select(x => (int)x)] : Samples.ToI32(b);
        for (int n = 0; n < got.Length; n++)
        {
            int expected = (int)Math.Round(a * fs * Math.Sin(2 * Math.PI * f * n / rate), MidpointRounding.ToEven);
            got[n].Should().Be(expected, $"frame {n}");
        }

        float[] floats = Samples.ToF32(ReadTone(spec, format with { Format = SampleFormat.FloatLe }, 0, 2000));
        for (int n = 0; n < floats.Length; n++)
        {
            floats[n].Should().BeApproximately((float)(a * Math.Sin(2 * Math.PI * f * n / rate)), 1e-7f, $"frame {n}");
        }
    }

    [Theory]
    [InlineData("440", 48000, 1_000_000_000_123L)]
    [InlineData("440.25@0.8", 44100, 987_654_321_987L)]
    [InlineData("19999.999999@1", 192000, long.MaxValue - 400_000)]
    [InlineData("3", 48000, 123_456_789_011L)] // a 16000-frame cycle: tabulated (ToneSource.MaxTabulatedCycle)
    [InlineData("660@0.9", 192000, 7)] // tabulated, 3200 frames
    [InlineData("1000.5", 48000, 99_999_999_999L)] // fractional but a 32000-frame cycle: tabulated
    public void Late_frames_equal_the_formula_with_the_phase_reduced_exactly(string spec, int rate, long first)
    {
        // An independent reduction with BigInteger: F n / RATE = P n / (10^d RATE); k = P n mod m.
        var (_, a) = SpecOf(spec);
        string f = spec.Split('@')[0];
        int d = f.Contains('.', StringComparison.Ordinal) ? f.Length - f.IndexOf('.', StringComparison.Ordinal) - 1 : 0;
        BigInteger p = BigInteger.Parse(f.Replace(".", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
        BigInteger m = BigInteger.Pow(10, d) * rate;
        var format = new AudioFormat(SampleFormat.S32Le, rate, 1);
        int[] got = Samples.ToI32(ReadTone(spec, format, first, 300_000)); // one long read: k must stay reduced within it
        for (int i = 0; i < got.Length; i += i < 3000 ? 1 : 7)
        {
            double k = (double)(p * (first + i) % m);
            int expected = (int)Math.Round(a * int.MaxValue * Math.Sin(2.0 * Math.PI * k / (double)m), MidpointRounding.ToEven);
            got[i].Should().Be(expected, $"frame {first + i}");
        }
    }

    [Fact]
    public void The_tone_is_periodic_in_rate_frames_for_integer_frequencies()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        ReadTone("440,661", format, 5, 100).Should().Equal(ReadTone("440,661", format, 5 + (48000L * 1_000_000), 100));
    }

    [Theory]
    [InlineData(SampleFormat.S16Le)]
    [InlineData(SampleFormat.S24Le)]
    [InlineData(SampleFormat.S32Le)]
    [InlineData(SampleFormat.FloatLe)]
    public void Same_frames_give_the_same_bytes_whatever_the_chunking_or_instance(SampleFormat sampleFormat)
    {
        var format = new AudioFormat(sampleFormat, 44100, 3);
        byte[] once = ReadTone("440@0.5,660.5@0.25,1234", format, 777, 1000);
        using var tone = new ToneSource("440@0.5,660.5@0.25,1234");
        tone.Start(format);
        var chunked = new byte[once.Length];
        for (int i = 0; i < 10; i++)
        {
            tone.Read(chunked.AsSpan(i * 100 * format.FrameBytes, 100 * format.FrameBytes), 777 + (i * 100));
        }

        chunked.Should().Equal(once);
        tone.Stop();
        tone.Start(format);
        var again = new byte[once.Length];
        tone.Read(again, 777);
        again.Should().Equal(once);

        var odd = new byte[once.Length];
        int at = 0;
        foreach (int n in new[] { 1, 2, 3, 500, 7, 487 })
        {
            tone.Read(odd.AsSpan(at * format.FrameBytes, n * format.FrameBytes), 777 + at);
            at += n;
        }

        odd.Should().Equal(once);
    }

    [Fact]
    public void Amplitude_defaults_to_half_and_channels_beyond_the_list_repeat_the_last()
    {
        var stereo = new AudioFormat(SampleFormat.S32Le, 48000, 5);
        int[] five = Samples.ToI32(ReadTone("440@0.25,660", stereo, 100, 50));
        var mono = stereo with { Channels = 1 };
        int[] ch0 = Samples.ToI32(ReadTone("440@0.25", mono, 100, 50));
        int[] ch1 = Samples.ToI32(ReadTone("660@0.5", mono, 100, 50));
        for (int n = 0; n < 50; n++)
        {
            five[(n * 5) + 0].Should().Be(ch0[n]);
            for (int c = 1; c < 5; c++)
            {
                five[(n * 5) + c].Should().Be(ch1[n], $"channel {c} repeats the last listed tone");
            }
        }

        using var one = new ToneSource("660");
        one.Channels.Should().Equal(new ToneChannel(660, 0, 0.5));
        using var two = new ToneSource("440.5@0.25,1");
        two.Channels.Should().Equal(new ToneChannel(4405, 1, 0.25), new ToneChannel(1, 0, 0.5));
    }

    [Fact]
    public void Amplitude_zero_is_silence_and_frequency_zero_is_sin_0()
    {
        Samples.ToS16(ReadTone("440@0", new(SampleFormat.S16Le, 48000, 1), 0, 100)).Should().OnlyContain(x => x == 0);
        Samples.ToS16(ReadTone("0@1", new(SampleFormat.S16Le, 48000, 1), 0, 100)).Should().OnlyContain(x => x == 0);
    }

    [Theory]
    [InlineData("", "*no frequencies*")]
    [InlineData("440,", "*channel 1*empty*")]
    [InlineData(",440", "*channel 0*empty*")]
    [InlineData("abc", "*frequency 'abc' is not a decimal number*")]
    [InlineData("-440", "*frequency '-440'*")]
    [InlineData("4e2", "*frequency '4e2'*")]
    [InlineData(" 440", "*frequency ' 440'*")]
    [InlineData("440.", "*frequency '440.'*")]
    [InlineData("440.1234567", "*more than 6 decimals*")]
    [InlineData("1000000001", "*above the 1000000000 Hz limit*")]
    [InlineData("99999999999999999999", "*above the 1000000000 Hz limit*")]
    [InlineData("440@", "*amplitude '' is not a decimal number*")]
    [InlineData("440@x", "*amplitude 'x'*")]
    [InlineData("440@-0.5", "*amplitude '-0.5'*")]
    [InlineData("440@1.5", "*amplitude '1.5' is outside 0..1*")]
    [InlineData("440@0.5@0.2", "*amplitude '0.5@0.2'*")]
    [InlineData("440,660@2", "*channel 1 ('660@2'*outside 0..1*")]
    public void Bad_specs_are_rejected_naming_the_bad_part(string spec, string message)
    {
        ToneSource.TryParse(spec, out _, out string? error).Should().BeFalse();
        error.Should().Match(message);
        FluentActions.Invoking(() => new ToneSource(spec)).Should().Throw<FormatException>().WithMessage(message);
    }

    [Fact]
    public void At_most_32_channels_may_be_listed()
    {
        ToneSource.TryParse(string.Join(',', Enumerable.Repeat("440", 32)), out var ok, out _).Should().BeTrue();
        ok.Should().HaveCount(32);
        ToneSource.TryParse(string.Join(',', Enumerable.Repeat("440", 33)), out _, out string? error).Should().BeFalse();
        error.Should().Contain("at most 32");
    }

    [Fact]
    public void Read_before_start_and_partial_frames_are_refused()
    {
        using var tone = new ToneSource("440");
        tone.Invoking(t => t.Read(new byte[4], 0)).Should().Throw<InvalidOperationException>();
        tone.Start(new(SampleFormat.S16Le, 48000, 2));
        tone.Invoking(t => t.Read(new byte[6], 0)).Should().Throw<ArgumentException>();
        tone.Description.Should().Be("tone:440");
    }

    private static (double F, double A) SpecOf(string spec)
    {
        string[] parts = spec.Split('@');
        return (double.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture),
            parts.Length > 1 ? double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : 0.5);
    }
}
