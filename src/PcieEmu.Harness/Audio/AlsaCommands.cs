using System.Globalization;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Models;

namespace PcieEmu.Harness.Audio;

/// <summary>
/// Guest shell command lines for aplay/arecord on raw files (the format is given, never guessed from a header)
/// and for waiting until a PCM substream runs. Our driver pairs the card's streams into PCM devices: the j-th
/// playback stream and the j-th capture stream are the playback and capture substreams of hw:C,j
/// (qemu/drivers/pcieemu_audio/README.md, "ALSA contract").
/// </summary>
internal static class AlsaCommands
{
    /// <summary>
    /// Periods per buffer when a test does not choose, at least: 16 of about 21 ms, a third of a second. A TCG guest
    /// on a loaded 2-core host can stall for longer than the 85 ms four periods gave, and then aplay underruns and
    /// arecord overruns: restarted streams, samples not bit-exact.
    /// </summary>
    public const int DefaultPeriods = 16;

    /// <summary>
    /// The shortest buffer a default gives: a third of a second. What an underrun depends on is the buffer, not the
    /// period: 256-frame periods at 48 kHz in 16 periods (85 ms) underran under two busy loops on a 2-core host, in
    /// 64 periods (341 ms) they did not, nor did 64-frame periods in a 341 ms buffer.
    /// </summary>
    public static readonly TimeSpan DefaultBufferTime = TimeSpan.FromSeconds(1.0 / 3);

    /// <summary>The most periods a buffer may have (the driver's limit, SD_BDLN ≤ 256).</summary>
    public const int MaxPeriods = 256;

    /// <summary>hw:<paramref name="card"/>,<paramref name="pcmDevice"/>.</summary>
    public static string Device(int card, int pcmDevice) => string.Create(CultureInfo.InvariantCulture, $"hw:{card},{pcmDevice}");

    /// <summary>The ALSA PCM device of stream <paramref name="streamIndex"/>: its rank among the streams of its direction.</summary>
    public static int PcmDevice(AudioCardModel model, int streamIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(streamIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(streamIndex, model.Streams.Count);
        var direction = model.Streams[streamIndex].Direction;
        return model.Streams.Take(streamIndex).Count(s => s.Direction == direction);
    }

    /// <summary>The ALSA device that reaches stream <paramref name="streamIndex"/> of card number <paramref name="card"/>.</summary>
    public static string StreamDevice(int card, AudioCardModel model, int streamIndex) => Device(card, PcmDevice(model, streamIndex));

    /// <summary>ALSA's procfs status file of stream <paramref name="streamIndex"/>'s substream.</summary>
    public static string StatusFile(int card, AudioCardModel model, int streamIndex) => string.Create(CultureInfo.InvariantCulture,
        $"/proc/asound/card{card}/pcm{PcmDevice(model, streamIndex)}{(model.Streams[streamIndex].Direction == StreamDirection.Capture ? 'c' : 'p')}/sub0/status");

    /// <summary>
    /// Periods for a buffer of <paramref name="periodFrames"/>-frame periods when a test does not choose: at least
    /// <see cref="DefaultPeriods"/>, and enough for <see cref="DefaultBufferTime"/> (at most <see cref="MaxPeriods"/>).
    /// </summary>
    public static int DefaultPeriodsFor(int periodFrames, int rate)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(periodFrames);
        long forTime = (long)Math.Ceiling(DefaultBufferTime.TotalSeconds * rate / periodFrames);
        return (int)Math.Clamp(forTime, DefaultPeriods, MaxPeriods);
    }

    public static string RawArgs(AudioFormat format) => string.Create(CultureInfo.InvariantCulture,
        $"-t raw -f {format.Format.AlsaName()} -r {format.Rate} -c {format.Channels}");

    /// <summary>aplay of a raw file; <paramref name="device"/> null plays on ALSA's default device (no -D).</summary>
    public static string Play(string? device, string file, AudioFormat format, int periodFrames, int? periods = null) =>
        string.Create(CultureInfo.InvariantCulture,
            $"aplay -q {DeviceArg(device)}{RawArgs(format)} --period-size={periodFrames} --buffer-size={periodFrames * (periods ?? DefaultPeriodsFor(periodFrames, format.Rate))} {file}");

    /// <summary>arecord of <paramref name="frames"/> frames into a raw file; <paramref name="device"/> null records from ALSA's default device.</summary>
    public static string Record(string? device, string file, AudioFormat format, long frames, int periodFrames, int? periods = null) =>
        string.Create(CultureInfo.InvariantCulture,
            $"arecord -q {DeviceArg(device)}{RawArgs(format)} --period-size={periodFrames} --buffer-size={periodFrames * (periods ?? DefaultPeriodsFor(periodFrames, format.Rate))} -s {frames} {file}");

    private static string DeviceArg(string? device) => device is null ? "" : $"-D {device} ";

    /// <summary>
    /// Starts <paramref name="record"/> in the background, waits (polling ALSA's procfs status) until the capture
    /// substream of PCM device <paramref name="captureDevice"/> runs, then runs <paramref name="play"/> and waits
    /// for the recording. Fails if capture has not started within <paramref name="startTimeout"/> or if either
    /// command fails.
    /// </summary>
    public static string RecordWhilePlaying(string record, string play, int card, int captureDevice, TimeSpan startTimeout)
    {
        int polls = (int)Math.Max(1, startTimeout.TotalMilliseconds / 10);
        string status = string.Create(CultureInfo.InvariantCulture, $"/proc/asound/card{card}/pcm{captureDevice}c/sub0/status");
        return string.Create(CultureInfo.InvariantCulture,
            $"{record} & rec=$!; i=0; until grep -qs RUNNING {status}; do i=$((i+1)); " +
            $"if [ $i -gt {polls} ] || ! kill -0 $rec 2>/dev/null; then echo 'capture did not start' >&2; kill $rec 2>/dev/null; exit 1; fi; sleep 0.01; done; " +
            $"{play} || {{ kill $rec; exit 1; }}; wait $rec");
    }

    /// <summary>A period of about 21 ms at <paramref name="rate"/> (1024 frames at 44.1/48 kHz, scaled up with the rate).</summary>
    public static int PeriodFrames(int rate) => rate <= 48000 ? 1024 : 1024 * (rate / 48000);
}
