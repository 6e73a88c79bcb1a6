using System.Buffers.Binary;

namespace PcieEmu.Devices.Audio.Dsp;

/// <summary>
/// Sample format and channel-count conversion between the two ends of a connection (audio card spec §13).
/// <list type="bullet">
/// <item>Channel c goes to channel c; destination channels the source lacks are zero (+0.0 for FLOAT_LE); extra
/// source channels are dropped.</item>
/// <item>Integers are left-justified to 32 bits (S16 « 16; S24: bits 23:0 sign-extended, « 8) and then truncated to
/// the target width by an arithmetic right shift (S24 written sign-extended in its container).</item>
/// <item>Integer → float: (float)(x32 / 2³¹), the division in double.</item>
/// <item>Float → integer: clamp to [−1, 1 − 2⁻³¹] (NaN → 0), × 2³¹, round half to even to int32, then truncate to
/// the target width like an integer.</item>
/// <item>Float → float copies the bits (NaN payloads included).</item>
/// </list>
/// Same format and channel count is a plain copy (S24 containers keep their top byte). Rates are not converted:
/// a rate mismatch is the caller's configuration error (§13), so <see cref="AudioFormat.Rate"/> is ignored.
/// Allocation-free; one sample at a time (it runs only where the two ends differ).
/// </summary>
internal static class SampleConversion
{
    private const double TwoPow31 = 2147483648.0;
    private const double MaxBelowOne = 1.0 - (1.0 / TwoPow31); // 1 − 2⁻³¹, exact in double

    /// <summary>
    /// Converts the whole frames in <paramref name="source"/> into the first frames × destination-frame-size bytes
    /// of <paramref name="destination"/>; the rest of the destination is left as it is.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An undefined sample format or a channel count below 1.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="source"/> is not whole frames, <paramref name="destination"/> is too small, or the two overlap
    /// while a conversion (not a plain copy) is needed.
    /// </exception>
    public static void Convert(ReadOnlySpan<byte> source, AudioFormat sourceFormat, Span<byte> destination, AudioFormat destinationFormat)
    {
        Validate(sourceFormat, nameof(sourceFormat));
        Validate(destinationFormat, nameof(destinationFormat));
        int sourceFrame = sourceFormat.FrameBytes;
        int destinationFrame = destinationFormat.FrameBytes;
        if (source.Length % sourceFrame != 0)
        {
            throw new ArgumentException(
                $"{source.Length} bytes is not a whole number of {sourceFrame}-byte frames ({sourceFormat}).", nameof(source));
        }

        int frames = source.Length / sourceFrame;
        if (destination.Length < (long)frames * destinationFrame)
        {
            throw new ArgumentException(
                $"{frames} frames of {destinationFormat} need {(long)frames * destinationFrame} bytes; the destination has {destination.Length}.",
                nameof(destination));
        }

        if (sourceFormat.Format == destinationFormat.Format && sourceFormat.Channels == destinationFormat.Channels)
        {
            source.CopyTo(destination);
            return;
        }

        if (source.Overlaps(destination))
        {
            throw new ArgumentException("The source and destination overlap.", nameof(destination));
        }

        SampleFormat from = sourceFormat.Format;
        SampleFormat to = destinationFormat.Format;
        int sourceBytes = from.BytesPerSample();
        int destinationBytes = to.BytesPerSample();
        int common = Math.Min(sourceFormat.Channels, destinationFormat.Channels);
        for (int f = 0; f < frames; f++)
        {
            ReadOnlySpan<byte> input = source.Slice(f * sourceFrame, sourceFrame);
            Span<byte> output = destination.Slice(f * destinationFrame, destinationFrame);
            for (int c = 0; c < common; c++)
            {
                ConvertSample(input.Slice(c * sourceBytes, sourceBytes), from, output.Slice(c * destinationBytes, destinationBytes), to);
            }

            output[(common * destinationBytes)..].Clear(); // missing channels: 0, and +0.0f is all-zero bits
        }
    }

    private static void Validate(AudioFormat format, string name)
    {
        if ((uint)format.Format > (uint)SampleFormat.FloatLe)
        {
            throw new ArgumentOutOfRangeException(name, format.Format, "Not a sample format of spec §9.2.");
        }

        if (format.Channels < 1)
        {
            throw new ArgumentOutOfRangeException(name, format.Channels, "A frame has at least one channel.");
        }
    }

    private static void ConvertSample(ReadOnlySpan<byte> input, SampleFormat from, Span<byte> output, SampleFormat to)
    {
        if (from == SampleFormat.FloatLe && to == SampleFormat.FloatLe)
        {
            input.CopyTo(output); // the bits, not the value: NaN payloads survive
            return;
        }

        if (to == SampleFormat.FloatLe)
        {
            float y = (float)(ReadLeftJustified(input, from) / TwoPow31);
            BinaryPrimitives.WriteSingleLittleEndian(output, y);
            return;
        }

        int x32 = from == SampleFormat.FloatLe
            ? FloatToInt32(BinaryPrimitives.ReadSingleLittleEndian(input))
            : ReadLeftJustified(input, from);
        switch (to)
        {
            case SampleFormat.S16Le:
                BinaryPrimitives.WriteInt16LittleEndian(output, (short)(x32 >> 16));
                break;
            case SampleFormat.S24Le:
                BinaryPrimitives.WriteInt32LittleEndian(output, x32 >> 8); // sign-extended in the container
                break;
            default:
                BinaryPrimitives.WriteInt32LittleEndian(output, x32);
                break;
        }
    }

    /// <summary>An integer sample as a left-justified int32.</summary>
    private static int ReadLeftJustified(ReadOnlySpan<byte> input, SampleFormat format) => format switch
    {
        SampleFormat.S16Le => BinaryPrimitives.ReadInt16LittleEndian(input) << 16,
        SampleFormat.S24Le => BinaryPrimitives.ReadInt32LittleEndian(input) << 8, // bits 23:0 to 31:8; bits 31:24 dropped
        _ => BinaryPrimitives.ReadInt32LittleEndian(input),
    };

    /// <summary>§13 float → integer at 32 bits: clamp to [−1, 1 − 2⁻³¹] (NaN → 0), × 2³¹, round half to even.</summary>
    private static int FloatToInt32(float x)
    {
        if (float.IsNaN(x))
        {
            return 0;
        }

        double clamped = Math.Clamp((double)x, -1.0, MaxBelowOne);
        return (int)Math.Round(clamped * TwoPow31); // exact scaling; the result lies in [−2³¹, 2³¹ − 1]
    }
}
