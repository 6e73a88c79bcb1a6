using System.Globalization;
using System.Text.RegularExpressions;
using PcieEmu.Devices.Audio;
using PcieEmu.Harness.Audio;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Integration.Tests;

/// <summary>The default card, used the way ALSA applications use a sound card.</summary>
public sealed class AlsaApplicationGuest : GuestFixture;

/// <summary>
/// The reference driver as ALSA applications expect it (qemu/drivers/pcieemu_audio/README.md, "ALSA contract"):
/// every configuration negotiates through the <c>_near</c> calls in either order, a period may be longer than a
/// DMA segment, the default device plays and records, and small periods keep up. What is asserted is what the card
/// saw: its runs, frames, period interrupts and driver-rule violations.
/// </summary>
public sealed partial class AlsaApplicationTests(AlsaApplicationGuest guest) : IClassFixture<AlsaApplicationGuest>
{
    private const int Playback = 0;
    private const int Capture = 1;

    [Theory]
    [InlineData("playback")]
    [InlineData("capture")]
    public async Task Every_format_rate_and_channel_count_negotiates_with_near_calls_in_either_order(string direction)
    {
        var stream = guest.Audio.Streams[direction == "playback" ? Playback : Capture];
        long violations = guest.Audio.Checker.Count;
        int runs = stream.Runs.Count;

        var result = await guest.Session.RunAsync($"pcm_negotiate -D {AudioFiles.PlaybackDevice} -s {direction}", TimeSpan.FromMinutes(5));

        ProbeSummary(result.Output).Should().Be((32, 0),
            $"4 formats x 4 rates x 1..2 channels, and not one set_*_near, hw_params, prepare or start failed:\n{result.Output}");
        result.ExitCode.Should().Be(0);
        stream.Runs.Count.Should().BeGreaterThan(runs, "the probe started every configuration, so the card validated each descriptor list");
        guest.Audio.Checker.Count.Should().Be(violations, "the card accepted every descriptor list the driver built (spec §10)");
    }

    [Fact]
    public async Task A_22500_frame_period_at_44_1_kHz_spans_descriptors_and_2_s_last_2_s_of_device_time()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 44100, 2);
        var samples = AudioFiles.Samples(format, 2 * format.Rate, seed: 1110);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "long-period.raw"), samples);
        var stream = guest.Audio.Streams[Playback];
        long iocsBefore = stream.Statistics.Periods;
        long messagesBefore = guest.Audio.Function.Interrupts.DeliveredCount(IrqIndex.Msix, stream.Vector);
        string command = $"aplay -v -D {AudioFiles.PlaybackDevice} {AlsaCommands.RawArgs(format)} --period-size=22500 --buffer-size=90000 long-period.raw > long-period.log 2>&1";

        var run = await CardRuns.RunOnce(guest, Playback, command, format, samples.Length / format.FrameBytes);

        // aplay -v prints the setup; the driver's steps (128-byte periods) give the nearest legal period.
        string setup = await File.ReadAllTextAsync(Path.Combine(guest.Session.ShareDirectory, "long-period.log"));
        int period = SetupValue(setup, "period_size");
        int buffer = SetupValue(setup, "buffer_size");
        period.Should().BeInRange(22400, 22500, "a period of 22,500 frames is granted (to the 128-byte step), not refused");
        ((long)period * format.FrameBytes).Should().BeGreaterThan(guest.Audio.Model.Dma.MaxSegmentBytes, "the period is longer than one DMA segment (MAXSEG)");
        buffer.Should().Be(4 * period);

        CardRuns.ShouldStartWith(run.Bytes, samples, "2 s of samples reach the sink");
        run.TotalFrames.Should().BeInRange(samples.Length / format.FrameBytes, (4L * period) + (format.Rate / 20),
            "the card played the 2 s file in four periods (aplay pads the last one), ~2.04 s of device time, not the 2.23 s of six 64 KiB periods");
        long iocs = stream.Statistics.Periods - iocsBefore;
        iocs.Should().Be(run.TotalFrames / period, "IOC only on a period's last descriptor: one interrupt per period, not per descriptor (spec §10)");
        (guest.Audio.Function.Interrupts.DeliveredCount(IrqIndex.Msix, stream.Vector) - messagesBefore).Should().Be(iocs, "each IOC is one MSI-X message");
    }

    [Fact]
    public async Task Aplay_and_arecord_work_with_the_default_device()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var samples = AudioFiles.Samples(format, 12000, seed: 1120);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "default-play.raw"), samples);
        int period = AlsaCommands.PeriodFrames(format.Rate);

        // One-second buffers: at load averages of 20 and more a guest went longer without a period interrupt than ALSA
        // waits for one with the default third of a second (about 1.1 × the buffer), failing arecord with an I/O error.
        int periods = (int)Math.Ceiling((double)format.Rate / period);
        var played = await CardRuns.RunOnce(guest, Playback, AlsaCommands.Play(null, "default-play.raw", format, period, periods), format, 12000);
        var recordedRun = await CardRuns.RunOnce(guest, Capture, AlsaCommands.Record(null, "default-rec.raw", format, 12000, period, periods), format, 12000);

        CardRuns.ShouldStartWith(played.Bytes, samples, "aplay without -D plays on the card's playback stream");
        var recorded = await File.ReadAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "default-rec.raw"));
        recorded.Should().HaveCount(12000 * format.FrameBytes, "arecord without -D records from the card's capture stream");
        CardRuns.ShouldStartWith(recordedRun.Bytes, recorded, "arecord's file is what the card's capture stream wrote");
        string pcm = await guest.Run("cat /proc/asound/pcm");
        pcm.Should().Contain("00-00: PcieEmu Audio : PcieEmu PCM 0 : playback 1 : capture 1", "one PCM device plays and records");
    }

    [Fact]
    public async Task Small_periods_in_a_buffer_below_the_minimum_get_the_minimum_and_play_bit_exact_without_an_xrun()
    {
        // 256 frames (5.3 ms) at 48 kHz in 4 periods (21 ms), as a low-latency application asks. An underrun depends on
        // the buffer, not the period: a TCG guest on a loaded 2-core host stalls for longer than 85 ms now and then. The
        // driver's constraints raise the buffer to its 200 ms minimum (driver README, "Periods and buffers").
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var samples = AudioFiles.Samples(format, 2 * format.Rate, seed: 1130);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "small-periods.raw"), samples);
        var stream = guest.Audio.Streams[Playback];
        long iocsBefore = stream.Statistics.Periods, xrunsBefore = stream.Statistics.Xruns, lostBefore = stream.Statistics.LostFrames;

        // From /tmp: the 9p share is not what is being tested and must not starve aplay.
        var run = await CardRuns.RunOnce(guest, Playback,
            $"cp small-periods.raw /tmp/ && aplay -v -D {AudioFiles.PlaybackDevice} {AlsaCommands.RawArgs(format)} --period-size=256 --buffer-size=1024 " +
            "/tmp/small-periods.raw > small-periods.log 2>&1; rc=$?; rm -f /tmp/small-periods.raw; exit $rc",
            format, samples.Length / format.FrameBytes);

        string setup = await File.ReadAllTextAsync(Path.Combine(guest.Session.ShareDirectory, "small-periods.log"));
        SetupValue(setup, "period_size").Should().Be(256, "the period asked for is granted");
        SetupValue(setup, "buffer_size").Should().BeGreaterThanOrEqualTo(format.Rate / 5, "the driver raises a 21 ms buffer to its 200 ms minimum");
        setup.Should().NotContain("underrun", "aplay never saw an underrun");
        CardRuns.ShouldStartWith(run.Bytes, samples, "every 256-frame period arrived in order (one RUN: aplay never restarted after an xrun)");
        stream.Statistics.Xruns.Should().Be(xrunsBefore, "the card never fell a buffer behind");
        stream.Statistics.LostFrames.Should().Be(lostBefore);
        (stream.Statistics.Periods - iocsBefore).Should().Be(run.TotalFrames / 256, "one interrupt per 256-frame period");
    }

    /// <summary>The probe's summary line: "pcm_negotiate DEV DIR: N configurations, T tries, F failures".</summary>
    internal static (int Configurations, int Failures) ProbeSummary(string output)
    {
        var m = SummaryLine().Match(output);
        m.Success.Should().BeTrue($"pcm_negotiate printed its summary:\n{output}");
        return (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    private static int SetupValue(string setup, string name)
    {
        var m = Regex.Match(setup, $@"^\s*{name}\s*:\s*(\d+)\s*$", RegexOptions.Multiline);
        m.Success.Should().BeTrue($"aplay -v printed {name}:\n{setup}");
        return int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^pcm_negotiate \S+ \S+: (\d+) configurations, \d+ tries, (\d+) failures$", RegexOptions.Multiline)]
    private static partial Regex SummaryLine();
}
