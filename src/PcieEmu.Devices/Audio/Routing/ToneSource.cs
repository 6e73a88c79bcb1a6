using System.Buffers.Binary;
using System.Globalization;

namespace PcieEmu.Devices.Audio.Routing;

/// <summary>
/// One channel of a tone: frequency <see cref="FrequencyHz"/> = <see cref="FrequencyNumerator"/> /
/// 10^<see cref="FrequencyDecimals"/> exactly (the decimal written in the route), amplitude 0..1 of full scale.
/// </summary>
internal readonly record struct ToneChannel(long FrequencyNumerator, int FrequencyDecimals, double Amplitude)
{
    public double FrequencyHz => FrequencyNumerator / Math.Pow(10, FrequencyDecimals);

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{FrequencyHz}@{Amplitude}");
}

/// <summary>
/// Capture route "tone:F[@A][,F[@A]…]" (spec §13): a sine per channel, frequency F Hz (a decimal with at most 6
/// fractional digits), amplitude A (0..1 of full scale, default 0.5); channels beyond the list repeat the last.
/// <para>
/// Spec §13: sample(n) = round-half-to-even(A × FS × sin(2π F n / RATE)) for frame n counted from RUN, FS = 32767
/// (S16_LE), 2²³ − 1 (S24_LE, written sign-extended in its 32-bit container), 2³¹ − 1 (S32_LE); FLOAT_LE:
/// (float)(A × sin(2π F n / RATE)).
/// </para>
/// <para>
/// Exactly what is computed, in IEEE double: write F = P / 10^d (P, d integers from the route text, d ≤ 6) and
/// m = 10^d × RATE. Then k = (P × n) mod m is computed exactly in integers, and the sine's argument is
/// fl(fl(2π × k) / m) with 2π = 2.0 × Math.PI; the sample is Math.Round(fl(A × FS) × Math.Sin(argument)) (ties to
/// even) for the integer formats and (float)(A × Math.Sin(argument)) for FLOAT_LE.
/// </para>
/// <para>
/// Why that is the spec's value: F n / RATE = P n / m = ⌊P n / m⌋ + k / m, so 2π F n / RATE and 2π k / m differ by
/// an integer multiple of 2π and their sines are equal as real numbers. The reduction is exact (integer arithmetic);
/// the only rounding is in forming the reduced argument (&lt; 2π: two roundings, an error below 2 ulp(2π) ≈ 9e-16
/// rad whatever n is) and in Math.Sin itself. Evaluating 2π F n / RATE literally in double would instead lose about
/// log2(n) bits of the phase as the run gets long. The result depends only on (route, format, rate, n): the same
/// frame gives the same bytes however reads are chunked, and frame n always equals frame n + m.
/// </para>
/// <para>
/// <see cref="Read"/> does not allocate: k is computed once per channel per call (128-bit product) and then
/// advanced by P mod m per frame.
/// </para>
/// <para>
/// For a tabulated cycle the samples themselves (the rounded integers, or the float's bits) are tabulated too, from
/// the same doubles: a read is then a strided copy, one load and one store per sample. When every channel is
/// tabulated and the frames of all their cycles together (the least common multiple) fit in
/// <see cref="MaxFrameTableBytes"/>, whole frames are tabulated once, interleaved as the stream carries them, and a
/// read is a plain copy out of that circular table (a 32-channel 192 kHz capture is then a memcpy).
/// </para>
/// <para>
/// k takes only L = m / gcd(P, m) values, in a cycle (600 for 440 Hz at 48 kHz). When L is small the sines of
/// the cycle are computed once, at the first <see cref="Read"/> after <see cref="Start"/>, by the same expression, and read from a table: the same
/// doubles, so the same bytes, without a Math.Sin per sample (which dominated the card's capture cost).
/// </para>
/// </summary>
public sealed class ToneSource : ICaptureSource
{
    /// <summary>Most channels a stream has (SD_FMT.CHANNELS is 5 bits, spec §9.1); longer lists are an error.</summary>
    public const int MaxChannels = 32;

    /// <summary>Amplitude of a channel whose spec gives none (F without @A): half of full scale.</summary>
    public const double DefaultAmplitude = 0.5;

    /// <summary>Largest frequency accepted, Hz (keeps P below 10^15).</summary>
    public const long MaxFrequencyHz = 1_000_000_000;

    private const int MaxDecimals = 6;
    private const double TwoPi = 2.0 * Math.PI;

    /// <summary>Longest k cycle whose sines are tabulated (larger cycles, e.g. fine fractional frequencies, call Math.Sin).</summary>
    internal const int MaxTabulatedCycle = 1 << 15;

    private readonly ToneChannel[] _channels;
    private readonly Dictionary<(long Modulus, long Step), double[]> _sineTables = [];
    /// <summary>Largest interleaved frame table (all channels' common cycle) kept per run.</summary>
    internal const int MaxFrameTableBytes = 4 << 20;

    private Phase[] _phases = [];
    private byte[]? _frameTable;
    private long _frameTableFrames;
    private bool _tablesPending;
    private AudioFormat? _format;

    /// <param name="spec">The part after "tone:", e.g. "440@0.5,660".</param>
    /// <exception cref="FormatException">A bad spec; the message names the bad part.</exception>
    public ToneSource(string spec)
    {
        if (!TryParse(spec, out var channels, out string? error))
        {
            throw new FormatException(error);
        }

        Spec = spec;
        _channels = [.. channels];
    }

    /// <summary>The route: "tone:" and <see cref="Spec"/>.</summary>
    public string Description => "tone:" + Spec;

    /// <summary>The spec after "tone:".</summary>
    public string Spec { get; }

    /// <summary>The channels as listed (stream channels beyond them repeat the last).</summary>
    internal IReadOnlyList<ToneChannel> Channels => _channels;

    /// <summary>Parses "F[@A][,F[@A]…]" (the part after "tone:").</summary>
    internal static bool TryParse(string? spec, out IReadOnlyList<ToneChannel> channels, out string? error)
    {
        channels = [];
        error = null;
        if (string.IsNullOrEmpty(spec))
        {
            error = "tone: no frequencies; expected tone:F[@A][,F[@A]...] (F in Hz, A 0..1), e.g. tone:440,660";
            return false;
        }

        string[] items = spec.Split(',');
        if (items.Length > MaxChannels)
        {
            error = $"tone: {items.Length} channels listed in '{spec}', at most {MaxChannels}";
            return false;
        }

        var list = new ToneChannel[items.Length];
        for (int i = 0; i < items.Length; i++)
        {
            string item = items[i];
            string where = $"tone: channel {i} ('{item}' in '{spec}')";
            if (item.Length == 0)
            {
                error = $"{where}: empty; expected F or F@A";
                return false;
            }

            int at = item.IndexOf('@', StringComparison.Ordinal);
            string f = at < 0 ? item : item[..at];
            if (!TryParseFrequency(f, out long numerator, out int decimals, out string? why))
            {
                error = $"{where}: frequency '{f}' {why}";
                return false;
            }

            double amplitude = DefaultAmplitude;
            if (at >= 0)
            {
                string a = item[(at + 1)..];
                if (a.Length == 0 || (!char.IsAsciiDigit(a[0]) && a[0] != '.')
                    || !double.TryParse(a, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out amplitude))
                {
                    error = $"{where}: amplitude '{a}' is not a decimal number";
                    return false;
                }

                if (amplitude > 1.0)
                {
                    error = $"{where}: amplitude '{a}' is outside 0..1 (a fraction of full scale)";
                    return false;
                }
            }

            list[i] = new ToneChannel(numerator, decimals, amplitude);
        }

        channels = list;
        return true;
    }

    /// <summary>Prepares a run in <paramref name="format"/>: frame 0 of the next <see cref="Read"/>s is the run's first.</summary>
    /// <returns>Null when the tone can be made in <paramref name="format"/>; otherwise why not (a non-positive rate or channel count).</returns>
    public string? Start(AudioFormat format)
    {
        if (format.Rate <= 0 || format.Channels <= 0)
        {
            return $"cannot make a tone of {format}";
        }

        if (_phases.Length < format.Channels)
        {
            _phases = new Phase[format.Channels];
        }

        double fullScale = format.Format switch
        {
            SampleFormat.S16Le => short.MaxValue,
            SampleFormat.S24Le => (1 << 23) - 1,
            SampleFormat.S32Le => int.MaxValue,
            _ => 1.0,
        };
        for (int c = 0; c < format.Channels; c++)
        {
            var ch = _channels[Math.Min(c, _channels.Length - 1)];
            long m = Pow10(ch.FrequencyDecimals) * format.Rate;
            long step = ch.FrequencyNumerator % m;
            _phases[c] = new Phase(m, step, ch.Amplitude, ch.Amplitude * fullScale, null);
        }

        _format = format;
        _frameTable = null;
        _tablesPending = true;
        return null;
    }

    /// <summary>
    /// Fills <paramref name="frames"/> with frames <paramref name="firstFrame"/>, <paramref name="firstFrame"/> + 1, …
    /// of the run, in the format given to <see cref="Start"/>: the same frame number always gives the same bytes, however
    /// reads are chunked. Does not allocate, except once per run for the tables.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called before <see cref="Start"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="frames"/> is not whole frames.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="firstFrame"/> is negative.</exception>
    public void Read(Span<byte> frames, long firstFrame)
    {
        var format = _format ?? throw new InvalidOperationException("ToneSource.Read before Start");
        int frameBytes = format.FrameBytes;
        if (frames.Length % frameBytes != 0)
        {
            throw new ArgumentException($"{frames.Length} bytes are not whole {frameBytes}-byte frames of {format}", nameof(frames));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(firstFrame);
        if (_tablesPending)
        {
            // Here, on the engine's thread, not in Start: Start runs inside the guest's RUN write (the MMIO path).
            for (int c = 0; c < format.Channels; c++)
            {
                var sines = SineTable(_phases[c].Modulus, _phases[c].Step);
                _phases[c] = _phases[c] with { Sines = sines, Samples = sines is null ? null : SampleTable(_phases[c], sines, format.Format) };
            }

            BuildFrameTable(format);
            _tablesPending = false;
        }

        if (_frameTable is { } table)
        {
            CopyFrames(frames, table, (int)(firstFrame % _frameTableFrames * frameBytes));
            return;
        }

        int count = frames.Length / frameBytes;
        int bytesPerSample = format.BytesPerSample;
        for (int c = 0; c < format.Channels; c++)
        {
            Phase p = _phases[c];
            long k = (long)((UInt128)(ulong)p.Step * (ulong)(firstFrame % p.Modulus) % (ulong)p.Modulus);
            int j = p.Sines is { } sines ? (int)(firstFrame % sines.Length) : 0;
            var channel = frames[(c * bytesPerSample)..];
            if (p.Samples is { } samples)
            {
                CopySamples(channel, count, frameBytes, bytesPerSample, samples, j);
                continue;
            }

            switch (format.Format)
            {
                case SampleFormat.S16Le:
                    for (int i = 0; i < count; i++)
                    {
                        BinaryPrimitives.WriteInt16LittleEndian(channel[(i * frameBytes)..], (short)Math.Round(p.ScaledAmplitude * NextSine(p, ref k, ref j), MidpointRounding.ToEven));
                    }

                    break;
                case SampleFormat.FloatLe:
                    for (int i = 0; i < count; i++)
                    {
                        BinaryPrimitives.WriteSingleLittleEndian(channel[(i * frameBytes)..], (float)(p.Amplitude * NextSine(p, ref k, ref j)));
                    }

                    break;
                default: // S24 (sign-extended in 32 bits by construction) and S32
                    for (int i = 0; i < count; i++)
                    {
                        BinaryPrimitives.WriteInt32LittleEndian(channel[(i * frameBytes)..], (int)Math.Round(p.ScaledAmplitude * NextSine(p, ref k, ref j), MidpointRounding.ToEven));
                    }

                    break;
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="count"/> frames' samples of one channel from its cycle table, starting at entry
    /// <paramref name="j"/>: the same values the per-sample expressions below give, without computing them.
    /// </summary>
    // Fully optimised from the first call: a replay is seconds long, and a hot loop left in tier-0 code until
    // on-stack replacement cost it a third of its time.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void CopySamples(Span<byte> channel, int count, int frameBytes, int bytesPerSample, int[] samples, int j)
    {
        ref byte at = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(channel);
        if ((long)(count - 1) * frameBytes + bytesPerSample > channel.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        for (int i = 0; i < count; i++)
        {
            int v = samples[j];
            j = j + 1 == samples.Length ? 0 : j + 1;
            ref byte sample = ref System.Runtime.CompilerServices.Unsafe.Add(ref at, (nint)i * frameBytes);
            if (bytesPerSample == 2)
            {
                System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref sample, BitConverter.IsLittleEndian ? (short)v : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((short)v));
            }
            else
            {
                System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref sample, BitConverter.IsLittleEndian ? v : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v));
            }
        }
    }

    /// <summary>
    /// Whole frames over the channels' common cycle, when every channel is tabulated and they fit: the same samples
    /// <see cref="CopySamples"/> writes, interleaved once.
    /// </summary>
    private void BuildFrameTable(AudioFormat format)
    {
        _frameTable = null;
        long frames = 1;
        for (int c = 0; c < format.Channels; c++)
        {
            if (_phases[c].Samples is not { } samples)
            {
                return;
            }

            frames = frames / Gcd(frames, samples.Length) * samples.Length;
            if (frames * format.FrameBytes > MaxFrameTableBytes)
            {
                return;
            }
        }

        var table = new byte[frames * format.FrameBytes];
        for (int c = 0; c < format.Channels; c++)
        {
            CopySamples(table.AsSpan(c * format.BytesPerSample), (int)frames, format.FrameBytes, format.BytesPerSample, _phases[c].Samples!, 0);
        }

        _frameTable = table;
        _frameTableFrames = frames;
    }

    /// <summary>Fills <paramref name="frames"/> from the circular frame table, starting at byte <paramref name="at"/>.</summary>
    private static void CopyFrames(Span<byte> frames, byte[] table, int at)
    {
        while (!frames.IsEmpty)
        {
            int n = Math.Min(frames.Length, table.Length - at);
            table.AsSpan(at, n).CopyTo(frames);
            frames = frames[n..];
            at = 0;
        }
    }

    /// <summary>A channel's samples over its cycle, from the tabulated sines by the same expressions <see cref="Read"/> uses.</summary>
    private static int[] SampleTable(in Phase p, double[] sines, SampleFormat format)
    {
        var samples = new int[sines.Length];
        for (int j = 0; j < sines.Length; j++)
        {
            samples[j] = format switch
            {
                SampleFormat.S16Le => (short)Math.Round(p.ScaledAmplitude * sines[j], MidpointRounding.ToEven),
                SampleFormat.FloatLe => BitConverter.SingleToInt32Bits((float)(p.Amplitude * sines[j])),
                _ => (int)Math.Round(p.ScaledAmplitude * sines[j], MidpointRounding.ToEven),
            };
        }

        return samples;
    }

    /// <summary>
    /// The next frame's sine: entry j of the channel's table when it has one (j then steps round the cycle), else
    /// computed from k (which then steps to the next frame).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static double NextSine(in Phase p, ref long k, ref int j)
    {
        if (p.Sines is { } table)
        {
            double t = table[j];
            j = j + 1 == table.Length ? 0 : j + 1;
            return t;
        }

        double s = Sine(k, p.Modulus);
        k += p.Step;
        if (k >= p.Modulus)
        {
            k -= p.Modulus;
        }

        return s;
    }

    /// <summary>Ends a run; nothing to release (a later <see cref="Start"/> begins another).</summary>
    public void Stop()
    {
    }

    /// <summary>Nothing to release: the source holds only memory.</summary>
    public void Dispose()
    {
    }

    private static bool TryParseFrequency(string text, out long numerator, out int decimals, out string? why)
    {
        numerator = 0;
        decimals = 0;
        why = null;
        int dot = text.IndexOf('.', StringComparison.Ordinal);
        string whole = dot < 0 ? text : text[..dot];
        string fraction = dot < 0 ? "" : text[(dot + 1)..];
        if (whole.Length == 0 || !whole.All(char.IsAsciiDigit) || !fraction.All(char.IsAsciiDigit) || (dot >= 0 && fraction.Length == 0))
        {
            why = "is not a decimal number of Hz (digits with an optional fraction, no sign or exponent)";
            return false;
        }

        if (fraction.Length > MaxDecimals)
        {
            why = $"has more than {MaxDecimals} decimals";
            return false;
        }

        string digits = whole.TrimStart('0');
        if (digits.Length > 10 || (digits.Length > 0 && long.Parse(digits, CultureInfo.InvariantCulture) > MaxFrequencyHz))
        {
            why = $"is above the {MaxFrequencyHz} Hz limit";
            return false;
        }

        long w = digits.Length == 0 ? 0 : long.Parse(digits, CultureInfo.InvariantCulture);
        long f = fraction.Length == 0 ? 0 : long.Parse(fraction, CultureInfo.InvariantCulture);
        decimals = fraction.Length;
        numerator = (w * Pow10(decimals)) + f;
        return true;
    }

    private static long Pow10(int decimals)
    {
        long p = 1;
        for (int i = 0; i < decimals; i++)
        {
            p *= 10;
        }

        return p;
    }

    /// <summary>The one expression every sample's sine comes from (spec §13 as computed, see the class comment).</summary>
    private static double Sine(long k, long modulus) => Math.Sin(TwoPi * k / modulus);

    /// <summary>sin of frame j's argument for j in one k cycle (k_j = j × step mod m), or null when the cycle is long.</summary>
    private double[]? SineTable(long modulus, long step)
    {
        long cycle = modulus / Gcd(step, modulus);
        if (cycle > MaxTabulatedCycle)
        {
            return null;
        }

        if (!_sineTables.TryGetValue((modulus, step), out var table))
        {
            table = new double[cycle];
            long k = 0;
            for (int j = 0; j < table.Length; j++)
            {
                table[j] = Sine(k, modulus);
                k += step;
                if (k >= modulus)
                {
                    k -= modulus;
                }
            }

            _sineTables[(modulus, step)] = table;
        }

        return table;
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }

    private readonly record struct Phase(long Modulus, long Step, double Amplitude, double ScaledAmplitude, double[]? Sines, int[]? Samples = null);
}
