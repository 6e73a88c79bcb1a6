using System.Globalization;
using PcieEmu.Devices.Audio;

namespace PcieEmu.Harness.Audio;

/// <summary>
/// Guest shell command lines for aplay/arecord on raw files (the format is given, never guessed from a header)
/// and for waiting until a PCM substream runs. Our driver exposes stream N of card C as hw:C,N.
/// </summary>
public static class AlsaCommands
{
    /// <summary>
    /// Periods per buffer when a test does not choose: 16 of about 21 ms, a third of a second. A TCG guest on a loaded
    /// 2-core host can stall for longer than the 85 ms four periods gave, and then aplay underruns and arecord
    /// overruns: restarted streams, samples not bit-exact.
    /// </summary>
    public const int DefaultPeriods = 16;

    public static string Device(int card, int stream) => string.Create(CultureInfo.InvariantCulture, $"hw:{card},{stream}");

    public static string RawArgs(AudioFormat format) => string.Create(CultureInfo.InvariantCulture,
        $"-t raw -f {format.Format.AlsaName()} -r {format.Rate} -c {format.Channels}");

    public static string Play(string device, string file, AudioFormat format, int periodFrames, int periods = DefaultPeriods) =>
        string.Create(CultureInfo.InvariantCulture,
            $"aplay -q -D {device} {RawArgs(format)} --period-size={periodFrames} --buffer-size={periodFrames * periods} {file}");

    public static string Record(string device, string file, AudioFormat format, long frames, int periodFrames, int periods = DefaultPeriods) =>
        string.Create(CultureInfo.InvariantCulture,
            $"arecord -q -D {device} {RawArgs(format)} --period-size={periodFrames} --buffer-size={periodFrames * periods} -s {frames} {file}");

    /// <summary>
    /// Starts <paramref name="record"/> in the background, waits (polling ALSA's procfs status) until the capture
    /// substream runs, then runs <paramref name="play"/> and waits for the recording. Fails if capture has not
    /// started within <paramref name="startTimeout"/> or if either command fails.
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
