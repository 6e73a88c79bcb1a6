namespace PcieEmu.Devices.Audio;

/// <summary>Sample encodings the card knows (audio card spec §9.2); values are SD_FMT.FORMAT.</summary>
public enum SampleFormat
{
    /// <summary>16-bit signed, little-endian.</summary>
    S16Le = 0,

    /// <summary>24-bit signed in the low bits of a 32-bit little-endian container.</summary>
    S24Le = 1,

    /// <summary>32-bit signed, little-endian.</summary>
    S32Le = 2,

    /// <summary>IEEE 754 binary32, little-endian, nominal range −1.0..1.0.</summary>
    FloatLe = 3,
}

/// <summary>Format, rate and channel count of an interleaved sample stream.</summary>
/// <param name="Format">The sample encoding.</param>
/// <param name="Rate">Frames per second (the card's streams: 44100, 48000, 96000 or 192000).</param>
/// <param name="Channels">Samples per frame (the card's streams: 1 … 32).</param>
public readonly record struct AudioFormat(SampleFormat Format, int Rate, int Channels)
{
    /// <summary>Bytes of one sample's container: 2 for S16_LE, 4 for the others.</summary>
    public int BytesPerSample => Format.BytesPerSample();

    /// <summary>Bytes of one frame: <see cref="BytesPerSample"/> × <see cref="Channels"/>.</summary>
    public int FrameBytes => BytesPerSample * Channels;

    /// <summary>"S16_LE 48000 Hz 2 ch".</summary>
    public override string ToString() => $"{Format.AlsaName()} {Rate} Hz {Channels} ch";
}

/// <summary>The card's sample formats and rates (spec §9.2) and their ALSA names.</summary>
public static class SampleFormats
{
    /// <summary>The rates the card knows, in Hz, indexed by their SD_FMT.RATE code. Do not modify.</summary>
    public static readonly int[] Rates = [44100, 48000, 96000, 192000];

    /// <summary>Bytes of one sample's container: 2 for S16_LE, 4 for the others.</summary>
    public static int BytesPerSample(this SampleFormat format) => format == SampleFormat.S16Le ? 2 : 4;

    /// <summary>The ALSA name (S16_LE, S24_LE, S32_LE, FLOAT_LE).</summary>
    public static string AlsaName(this SampleFormat format) => format switch
    {
        SampleFormat.S16Le => "S16_LE",
        SampleFormat.S24Le => "S24_LE",
        SampleFormat.S32Le => "S32_LE",
        _ => "FLOAT_LE",
    };

    /// <summary>The format an ALSA name (S16_LE, S24_LE, S32_LE, FLOAT_LE; case-sensitive) stands for; false for any other name.</summary>
    public static bool TryParseAlsaName(string name, out SampleFormat format)
    {
        (bool ok, format) = name switch
        {
            "S16_LE" => (true, SampleFormat.S16Le),
            "S24_LE" => (true, SampleFormat.S24Le),
            "S32_LE" => (true, SampleFormat.S32Le),
            "FLOAT_LE" => (true, SampleFormat.FloatLe),
            _ => (false, default),
        };
        return ok;
    }

    /// <summary>SD_FMT.RATE code of a rate in Hz, or -1.</summary>
    public static int RateCode(int rate) => Array.IndexOf(Rates, rate);
}

/// <summary>
/// One channel's SD_CHVOL setting (spec §12): LEVEL in 0.5 dB steps (192 = 0 dB) and MUTE.
/// </summary>
internal readonly record struct ChannelGain(byte Level, bool Mute)
{
    public const byte UnityLevel = 192;

    public static ChannelGain Unity => new(UnityLevel, false);

    public bool IsUnity => Level == UnityLevel && !Mute;

    /// <summary>g = 10^((LEVEL − 192) / 40); 0 when muted.</summary>
    public double Factor => Mute ? 0.0 : Math.Pow(10.0, (Level - UnityLevel) / 40.0);
}
