namespace PcieEmu.Devices.Audio.Dsp;

/// <summary>
/// What the vector kernels of <see cref="GainStage"/> share: the gains and MUTE bits of a call laid out per sample,
/// in a pattern that repeats with the channel count, and the step both kernels advance by.
/// </summary>
internal static class GainPattern
{
    /// <summary>Samples each vector-loop step handles, in both kernels.</summary>
    public const int Step = 8;

    /// <summary>Whether bit <paramref name="channel"/> of <paramref name="muted"/> (channel c's MUTE) is set.</summary>
    public static bool IsMuted(uint muted, int channel) => (muted >> channel & 1) != 0;

    /// <summary>
    /// Gain factors laid out per sample for the vector kernels: entry i is the factor of sample i's channel. The
    /// pattern repeats with period lcm(channels, <see cref="Step"/>), so every vector step reads its gains at
    /// one offset that wraps to 0 at the end of the pattern; short periods are repeated up to 64 samples so the wrap
    /// is rare. Never longer than the run itself (nor than 248 doubles, for 31 channels), and always a multiple of
    /// <see cref="Step"/>.
    /// </summary>
    public static int Length(int channels, int vectorSamples)
    {
        int period = channels * Step / Gcd(channels, Step);
        period *= Math.Max(1, 64 / period);
        return Math.Min(period, vectorSamples);
    }

    /// <summary>Entry i gets the factor of sample i's channel (see <see cref="Length"/>).</summary>
    public static void Fill(Span<double> pattern, ReadOnlySpan<double> factors)
    {
        for (int i = 0, c = 0; i < pattern.Length; i++)
        {
            pattern[i] = factors[c];
            c = c + 1 == factors.Length ? 0 : c + 1;
        }
    }

    /// <summary>All-ones for samples of unmuted channels, zero for muted ones: ANDed over FLOAT_LE results.</summary>
    public static void FillMuteMask(Span<uint> mask, int channels, uint muted)
    {
        for (int i = 0, c = 0; i < mask.Length; i++)
        {
            mask[i] = IsMuted(muted, c) ? 0u : uint.MaxValue;
            c = c + 1 == channels ? 0 : c + 1;
        }
    }

    private static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }

    /// <summary>
    /// Runs kernel <typeparamref name="TKernel"/> over the longest prefix of <paramref name="frames"/> that is a
    /// multiple of <see cref="Step"/> samples: lays out the pattern (and, for FLOAT_LE, the mute mask) and picks the
    /// format's loop. Returns how many samples it processed; the caller finishes the rest with the scalar code.
    /// </summary>
    public static int Apply<TKernel>(Span<byte> frames, SampleFormat format, ReadOnlySpan<double> factors, uint muted)
        where TKernel : IGainKernel
    {
        int samples = frames.Length / format.BytesPerSample();
        int count = samples - samples % Step;
        if (count == 0)
        {
            return 0;
        }

        Span<double> pattern = stackalloc double[Length(factors.Length, count)];
        Fill(pattern, factors);
        switch (format)
        {
            case SampleFormat.S16Le:
                TKernel.S16(frames, count, pattern);
                break;
            case SampleFormat.S24Le:
                TKernel.Int32(frames, count, pattern, GainStage.S24Min, GainStage.S24Max, signExtend24: true);
                break;
            case SampleFormat.S32Le:
                TKernel.Int32(frames, count, pattern, int.MinValue, int.MaxValue, signExtend24: false);
                break;
            default:
                Span<uint> mask = stackalloc uint[pattern.Length];
                FillMuteMask(mask, factors.Length, muted);
                TKernel.Float(frames, count, pattern, mask);
                break;
        }

        return count;
    }
}

/// <summary>One vector width's loops of <see cref="GainStage"/>; <see cref="GainPattern.Apply{TKernel}"/> dispatches to them.</summary>
internal interface IGainKernel
{
    /// <summary>S16_LE: the first <paramref name="count"/> samples (a multiple of <see cref="GainPattern.Step"/>) scaled by the per-sample <paramref name="pattern"/>.</summary>
    static abstract void S16(Span<byte> data, int count, ReadOnlySpan<double> pattern);

    /// <summary>S24_LE (sign-extended from bit 23) or S32_LE: scaled, clamped to [<paramref name="lower"/>, <paramref name="upper"/>], rounded to nearest-even.</summary>
    static abstract void Int32(Span<byte> data, int count, ReadOnlySpan<double> pattern, double lower, double upper, bool signExtend24);

    /// <summary>FLOAT_LE: scaled, narrowed as the scalar cast does, muted lanes ANDed to +0.0 by <paramref name="mask"/>.</summary>
    static abstract void Float(Span<byte> data, int count, ReadOnlySpan<double> pattern, ReadOnlySpan<uint> mask);
}
