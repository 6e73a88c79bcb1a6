using System.Buffers.Binary;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PcieEmu.Devices.Audio.Dsp;

/// <summary>
/// The per-channel volume/gain/mute stage of audio card spec §12, applied in place to interleaved little-endian
/// frames (§9.2).
/// <para>
/// With g = <see cref="ChannelGain.Factor"/> of channel c (computed once per call):
/// integer formats y = round-half-to-even(x × g) in double precision, saturated to the format's range
/// (S24: the input is bits 23:0 sign-extended, the output is written sign-extended in its 32-bit container);
/// FLOAT_LE y = (float)((double)x × g), no saturation; MUTE y = 0 (+0.0 for FLOAT_LE).
/// </para>
/// <para>
/// When every channel is unity (<see cref="ChannelGain.IsUnity"/>) the data is not touched at all: the pass-through
/// is bit-exact, NaN payloads and the ignored top byte of S24 containers included. Otherwise every sample is
/// recomputed, unity channels too: S24 containers of unity channels get their top byte rewritten as the sign
/// extension, and for FLOAT_LE a signalling NaN comes out quiet (same payload, quiet bit set), because the
/// float → double → float round trip quietens it.
/// </para>
/// <para>
/// <see cref="Apply(Span{byte}, SampleFormat, int, ReadOnlySpan{ChannelGain})"/> is vectorised (AVX2 with 256-bit vectors, else 128-bit vectors on any hardware that
/// accelerates them, else the scalar loop) and produces exactly the bytes <see cref="ApplyScalar(Span{byte}, SampleFormat, int, ReadOnlySpan{ChannelGain})"/> produces, for
/// every input; the two differ only in speed. Neither allocates.
/// </para>
/// </summary>
internal static class GainStage
{
    /// <summary>Most channels a stream has (SD_FMT.CHANNELS is 5 bits, §9.1).</summary>
    public const int MaxChannels = 32;

    /// <summary>The S24 range (bits 23:0 sign-extended), the bounds every kernel saturates to.</summary>
    internal const double S24Min = -(1 << 23);

    internal const double S24Max = (1 << 23) - 1;

    /// <summary>The fastest kernel this machine runs; <see cref="Apply(Span{byte}, SampleFormat, int, ReadOnlySpan{ChannelGain})"/> uses it.</summary>
    internal static GainKernel BestKernel { get; } =
        IsSupported(GainKernel.Vector256) ? GainKernel.Vector256
        : Vector128.IsHardwareAccelerated && IsSupported(GainKernel.Vector128) ? GainKernel.Vector128
        : GainKernel.Scalar;

    /// <summary>
    /// Applies <paramref name="gains"/>[c] to channel c of every frame, in place (spec §12), vectorised.
    /// </summary>
    /// <param name="frames">Whole interleaved frames of <paramref name="format"/>; any alignment.</param>
    /// <param name="format">The sample format (§9.2).</param>
    /// <param name="channels">Samples per frame, 1..<see cref="MaxChannels"/>.</param>
    /// <param name="gains">At least <paramref name="channels"/> entries; extra entries are ignored.</param>
    /// <exception cref="ArgumentOutOfRangeException">An undefined format, or channels outside 1..32.</exception>
    /// <exception cref="ArgumentException">Too few gains, or <paramref name="frames"/> is not whole frames.</exception>
    public static void Apply(Span<byte> frames, SampleFormat format, int channels, ReadOnlySpan<ChannelGain> gains) =>
        Apply(BestKernel, frames, format, channels, gains);

    /// <summary>
    /// The per-sample reference for <see cref="Apply(Span{byte}, SampleFormat, int, ReadOnlySpan{ChannelGain})"/>: same contract, same bytes, one sample at a time.
    /// </summary>
    /// <inheritdoc cref="Apply(Span{byte}, SampleFormat, int, ReadOnlySpan{ChannelGain})"/>
    public static void ApplyScalar(Span<byte> frames, SampleFormat format, int channels, ReadOnlySpan<ChannelGain> gains) =>
        Apply(GainKernel.Scalar, frames, format, channels, gains);

    /// <summary>Whether <paramref name="kernel"/> can run here (tests compare every supported one with the scalar).</summary>
    internal static bool IsSupported(GainKernel kernel) => kernel switch
    {
        GainKernel.Scalar => true,
        // The vector kernels reinterpret the buffer as little-endian lanes; 128-bit generic vectors run (in software
        // if need be) everywhere, so this kernel is testable even where it is not the fastest.
        GainKernel.Vector128 => BitConverter.IsLittleEndian,
        GainKernel.Vector256 => BitConverter.IsLittleEndian && Avx2.IsSupported,
        _ => false,
    };

    /// <summary><see cref="Apply(Span{byte}, SampleFormat, int, ReadOnlySpan{ChannelGain})"/> with a chosen kernel.</summary>
    internal static void Apply(GainKernel kernel, Span<byte> frames, SampleFormat format, int channels, ReadOnlySpan<ChannelGain> gains)
    {
        if ((uint)format > (uint)SampleFormat.FloatLe)
        {
            throw new ArgumentOutOfRangeException(nameof(format), format, "Not a sample format of spec §9.2.");
        }

        if (channels is < 1 or > MaxChannels)
        {
            throw new ArgumentOutOfRangeException(nameof(channels), channels, $"A frame has 1..{MaxChannels} channels.");
        }

        if (gains.Length < channels)
        {
            throw new ArgumentException($"{gains.Length} gains for {channels} channels.", nameof(gains));
        }

        int bytesPerSample = format.BytesPerSample();
        if (frames.Length % (bytesPerSample * channels) != 0)
        {
            throw new ArgumentException(
                $"{frames.Length} bytes is not a whole number of {bytesPerSample * channels}-byte frames.", nameof(frames));
        }

        if (!IsSupported(kernel))
        {
            throw new PlatformNotSupportedException($"The {kernel} gain kernel does not run on this machine.");
        }

        bool unity = true;
        for (int c = 0; c < channels; c++)
        {
            unity &= gains[c].IsUnity;
        }

        if (unity)
        {
            return; // §12: LEVEL 192 passes samples through unchanged; here not even rewritten
        }

        Span<double> factors = stackalloc double[MaxChannels];
        factors = factors[..channels];
        uint muted = 0;
        for (int c = 0; c < channels; c++)
        {
            factors[c] = gains[c].Factor;
            muted |= gains[c].Mute ? 1u << c : 0u;
        }

        int vectorised = kernel switch
        {
            GainKernel.Vector256 => GainPattern.Apply<Vector256GainKernel>(frames, format, factors, muted),
            GainKernel.Vector128 => GainPattern.Apply<Vector128GainKernel>(frames, format, factors, muted),
            _ => 0,
        };

        ApplyScalar(frames[(vectorised * bytesPerSample)..], format, vectorised % channels, factors, muted);
    }

    /// <summary>
    /// The reference loop. <paramref name="data"/> starts at a sample of channel <paramref name="channel"/>
    /// (the vector kernels hand their tail here); <paramref name="factors"/> has one entry per channel and bit c of
    /// <paramref name="muted"/> is channel c's MUTE.
    /// </summary>
    private static void ApplyScalar(Span<byte> data, SampleFormat format, int channel, ReadOnlySpan<double> factors, uint muted)
    {
        int channels = factors.Length;
        switch (format)
        {
            case SampleFormat.S16Le:
                for (int o = 0; o < data.Length; o += sizeof(short))
                {
                    Span<byte> sample = data.Slice(o, sizeof(short));
                    short x = BinaryPrimitives.ReadInt16LittleEndian(sample);
                    short y = GainPattern.IsMuted(muted, channel) ? (short)0 : (short)Scale(x, factors[channel], short.MinValue, short.MaxValue);
                    BinaryPrimitives.WriteInt16LittleEndian(sample, y);
                    channel = channel + 1 == channels ? 0 : channel + 1;
                }

                break;

            case SampleFormat.S24Le:
                for (int o = 0; o < data.Length; o += sizeof(int))
                {
                    Span<byte> sample = data.Slice(o, sizeof(int));
                    int x = BinaryPrimitives.ReadInt32LittleEndian(sample) << 8 >> 8; // bits 23:0, sign-extended
                    int y = GainPattern.IsMuted(muted, channel) ? 0 : Scale(x, factors[channel], S24Min, S24Max);
                    BinaryPrimitives.WriteInt32LittleEndian(sample, y); // sign-extended in the container
                    channel = channel + 1 == channels ? 0 : channel + 1;
                }

                break;

            case SampleFormat.S32Le:
                for (int o = 0; o < data.Length; o += sizeof(int))
                {
                    Span<byte> sample = data.Slice(o, sizeof(int));
                    int x = BinaryPrimitives.ReadInt32LittleEndian(sample);
                    int y = GainPattern.IsMuted(muted, channel) ? 0 : Scale(x, factors[channel], int.MinValue, int.MaxValue);
                    BinaryPrimitives.WriteInt32LittleEndian(sample, y);
                    channel = channel + 1 == channels ? 0 : channel + 1;
                }

                break;

            default:
                for (int o = 0; o < data.Length; o += sizeof(float))
                {
                    Span<byte> sample = data.Slice(o, sizeof(float));
                    float x = BinaryPrimitives.ReadSingleLittleEndian(sample);
                    float y = GainPattern.IsMuted(muted, channel) ? 0.0f : (float)((double)x * factors[channel]);
                    BinaryPrimitives.WriteSingleLittleEndian(sample, y);
                    channel = channel + 1 == channels ? 0 : channel + 1;
                }

                break;
        }
    }

    /// <summary>§12 for integers: round-half-to-even(x × g) in double, then saturated to [min, max].</summary>
    private static int Scale(int x, double g, double min, double max)
    {
        double y = Math.Round(x * g); // Math.Round(double) rounds half to even
        return y < min ? (int)min : y > max ? (int)max : (int)y;
    }
}

/// <summary>The implementations of <see cref="GainStage"/>; all produce the same bytes.</summary>
internal enum GainKernel
{
    /// <summary>One sample at a time (<see cref="GainStage.ApplyScalar(Span{byte}, SampleFormat, int, ReadOnlySpan{ChannelGain})"/>).</summary>
    Scalar,

    /// <summary>128-bit vectors: SSE2/SSE4.1 conversions on x86, portable Vector128 elsewhere.</summary>
    Vector128,

    /// <summary>256-bit vectors with AVX/AVX2.</summary>
    Vector256,
}
