using System.Globalization;
using PcieEmu.Devices;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Models;
using PcieEmu.Harness;
using PcieEmu.Harness.Audio;

namespace PcieEmu.Integration.Tests;

/// <summary>The pro variant (firmware-models/pcieemu-audio/pro.json): 4 playback + 4 capture streams, up to 32 channels, 16 vectors.</summary>
public sealed class ProGuest : GuestFixture
{
    public static string ModelPath => Path.Combine(Repository.Root, "firmware-models", "pcieemu-audio", "pro.json");

    protected override GuestSessionOptions Options => new() { ModelPaths = [ModelPath] };
}

/// <summary>
/// The same driver on the pro model: everything it needs comes from the card (spec §1, §9.1 SD_CAPS), so it finds
/// eight streams with their own channel counts, formats and rates, moves 32-channel 192 kHz audio bit-exact on a
/// stream other than 0, and runs playback and capture streams at the same time.
/// </summary>
public sealed class AudioProModelTests(ProGuest guest) : IClassFixture<ProGuest>
{
    private static readonly SampleFormat[] FormatOrder = [SampleFormat.S16Le, SampleFormat.S24Le, SampleFormat.S32Le, SampleFormat.FloatLe];

    [Fact]
    public async Task The_driver_finds_every_stream_of_the_model_with_its_caps_spec_9_1()
    {
        var model = guest.Audio.Model;
        model.Streams.Should().HaveCount(8, "pro.json has 4 playback and 4 capture streams");
        model.Streams.Select(s => s.MaxChannels).Should().Contain(32, "the model offers a 32-channel stream");
        var expected = model.Streams.Select((s, i) => string.Create(CultureInfo.InvariantCulture,
            $"{i} {(s.Direction == StreamDirection.Playback ? "playback" : "capture")} {s.MaxChannels} {Formats(s)} {string.Join(',', s.Rates.Order())}")).ToList();

        string sysfs = await guest.Run($"cat {GuestDevice.SysfsDir}/streams");

        sysfs.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().Equal(expected,
            "one line per stream: index, direction, MAXCH, FORMATS and RATES of its SD_CAPS, in card order (playback first, spec §9)");

        string pcms = await guest.Run("ls /proc/asound/card0 && dmesg");
        for (int i = 0; i < model.Streams.Count; i++)
        {
            pcms.Should().Contain(model.Streams[i].Direction == StreamDirection.Playback ? $"pcm{i}p" : $"pcm{i}c", $"stream {i} is PCM device {i} in its direction");
        }

        pcms.Should().Contain("PcieEmu Audio spec 1.1: 4 playback, 4 capture, 16 vector(s) (msix)", "CAPS and the MSI-X table size come from the model");
        for (int i = 0; i < model.Streams.Count; i++)
        {
            bool capture = model.Streams[i].Direction == StreamDirection.Capture;
            string control = await guest.Run(AudioMixer.Get(capture ? AudioMixer.CaptureVolume : AudioMixer.PlaybackVolume, i));
            control.Should().Contain($"values={model.Streams[i].MaxChannels},min=0,max={(capture ? 255 : 192)}",
                $"stream {i}'s volume control has one value per channel (spec §12 ranges)");
        }
    }

    [Theory]
    [InlineData(3, 32, SampleFormat.S32Le, 192000)]
    [InlineData(1, 8, SampleFormat.S32Le, 192000)]
    [InlineData(2, 16, SampleFormat.S24Le, 96000)]
    public async Task Multichannel_playback_on_a_non_zero_stream_is_bit_exact_spec_9_2(int streamIndex, int channels, SampleFormat sampleFormat, int rate)
    {
        var layout = guest.Audio.Model.Streams[streamIndex];
        layout.Direction.Should().Be(StreamDirection.Playback);
        layout.MaxChannels.Should().Be(channels, "the test uses every channel the stream offers");
        var format = new AudioFormat(sampleFormat, rate, channels);
        int frames = rate / 4; // 250 ms
        var samples = AudioFiles.Samples(format, frames, seed: 8000 + streamIndex);
        string file = $"pro-{streamIndex}-{channels}-{sampleFormat}-{rate}.raw";
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, file), samples);
        int periodFrames = PeriodFrames(format);

        // From /tmp: the 9p share is not what is being tested and must not starve aplay.
        var run = await CardRuns.RunOnce(guest, streamIndex,
            $"cp {file} /tmp/{file} && {AlsaCommands.Play(AlsaCommands.Device(0, streamIndex), "/tmp/" + file, format, periodFrames, periods: 8)}; rc=$?; rm -f /tmp/{file}; exit $rc",
            format, frames);

        guest.Audio.Streams.Where(s => s.Index != streamIndex).Should().OnlyContain(s => !s.IsRunning);
        CardRuns.ShouldStartWith(run.Bytes, samples, $"{channels} interleaved channels arrive ({format})");
    }

    [Fact]
    public async Task Two_playback_and_two_capture_streams_run_at_once_and_each_is_exact()
    {
        var play1 = new AudioFormat(SampleFormat.S24Le, 96000, 8);
        var play3 = new AudioFormat(SampleFormat.FloatLe, 48000, 32);
        var rec4 = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var rec6 = new AudioFormat(SampleFormat.S32Le, 48000, 16);
        var samples1 = AudioFiles.Samples(play1, play1.Rate / 2, seed: 8101);
        var samples3 = AudioFiles.Samples(play3, play3.Rate / 2, seed: 8103);
        int recordFrames = 3 * 48000; // the captures outlast both playbacks
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "multi-1.raw"), samples1);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "multi-3.raw"), samples3);
        int[] used = [1, 3, 4, 6];
        var runsBefore = used.ToDictionary(i => i, i => guest.Audio.Streams[i].Runs.Count);
        long violations = guest.Audio.Checker.Count;
        string status(int i) => $"/proc/asound/card0/pcm{i}{(i < 4 ? 'p' : 'c')}/sub0/status";
        string waitRunning(params int[] streams) =>
            $"i=0; until [ \"$(grep -l RUNNING {string.Join(' ', streams.Select(status))} 2>/dev/null | wc -l)\" -eq {streams.Length} ]; do " +
            $"i=$((i+1)); if [ $i -gt 2000 ]; then echo 'not all of {string.Join(',', streams)} ran at once' >&2; exit 1; fi; sleep 0.005; done";

        string output = await guest.Run(
            "cp multi-1.raw multi-3.raw /tmp/ && cd /tmp && " +
            $"{{ {AlsaCommands.Record(AlsaCommands.Device(0, 4), "rec-4.raw", rec4, recordFrames, PeriodFrames(rec4))} & r4=$!; " +
            $"{AlsaCommands.Record(AlsaCommands.Device(0, 6), "rec-6.raw", rec6, recordFrames, PeriodFrames(rec6))} & r6=$!; " +
            $"{waitRunning(4, 6)}; " +
            $"{AlsaCommands.Play(AlsaCommands.Device(0, 1), "multi-1.raw", play1, PeriodFrames(play1))} & p1=$!; " +
            $"{AlsaCommands.Play(AlsaCommands.Device(0, 3), "multi-3.raw", play3, PeriodFrames(play3))} & p3=$!; " +
            $"{waitRunning(1, 3, 4, 6)} && echo all-four-running; " +
            "wait $p1; echo \"p1=$?\"; wait $p3; echo \"p3=$?\"; wait $r4; echo \"r4=$?\"; wait $r6; echo \"r6=$?\"; " +
            "cp rec-4.raw rec-6.raw /mnt/host/; rm -f rec-4.raw rec-6.raw multi-1.raw multi-3.raw; }");

        output.Should().Contain("all-four-running", "the guest saw the four substreams RUNNING at the same moment");
        output.Should().Contain("p1=0").And.Contain("p3=0").And.Contain("r4=0").And.Contain("r6=0", $"every transfer succeeded:\n{output}");
        foreach (int i in used)
        {
            guest.Audio.Streams[i].Runs.Should().HaveCount(runsBefore[i] + 1, $"stream {i} ran once");
        }

        CardRuns.ShouldStartWith(guest.Audio.Streams[1].Runs[^1].Bytes, samples1, "stream 1 (8 ch S24_LE 96 kHz) played its file");
        CardRuns.ShouldStartWith(guest.Audio.Streams[3].Runs[^1].Bytes, samples3, "stream 3 (32 ch FLOAT_LE 48 kHz) played its file");
        foreach (var (index, format) in new[] { (4, rec4), (6, rec6) })
        {
            var tone = AudioMixer.Tone(format, recordFrames);
            var recorded = await File.ReadAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, $"rec-{index}.raw"));
            recorded.Should().HaveCount(tone.Length);
            recorded.AsSpan().SequenceEqual(tone).Should().BeTrue(
                $"stream {index} ({format}) recorded the tone:440,660, later channels repeating 660 Hz (spec §13); first difference at byte {FrameSearch.FirstDifference(recorded, tone)}");
            CardRuns.ShouldStartWith(guest.Audio.Streams[index].Runs[^1].Bytes, tone, $"stream {index}: what the card wrote");
        }

        guest.Audio.Checker.Count.Should().Be(violations, "four streams at once broke no rule");
        guest.AudioViolations().Should().BeEmpty("the pro card saw no violation at all in this guest");
    }

    /// <summary>About 21 ms (AlsaCommands.PeriodFrames), but at most MAXSEG bytes per period (pro model: 256 KiB, spec §4).</summary>
    private int PeriodFrames(AudioFormat format) =>
        Math.Min(AlsaCommands.PeriodFrames(format.Rate), (int)(guest.Audio.Model.Dma.MaxSegmentBytes / format.FrameBytes));

    private static string Formats(StreamLayout stream) =>
        string.Join(',', FormatOrder.Where(f => stream.Formats.Contains(f.AlsaName())).Select(f => f.AlsaName()));
}
