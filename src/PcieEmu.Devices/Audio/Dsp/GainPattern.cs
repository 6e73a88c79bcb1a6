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
}
