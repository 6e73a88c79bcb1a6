using System.Buffers.Binary;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.Audio.Wav;
using PcieEmu.Harness;
using PcieEmu.Harness.Audio;
using PcieEmu.Harness.Guest;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Integration.Tests;

/// <summary>The default card with its default routes: playback kept in memory, capture from the tone (spec §13).</summary>
public sealed class AudioGuest : GuestFixture;

/// <summary>Playback looped back into capture (spec §13 loopback).</summary>
public sealed class LoopbackGuest : GuestFixture
{
    protected override GuestSessionOptions Options => new()
    {
        Routes = new Dictionary<string, string> { ["playback0"] = "loopback", ["capture0"] = "loopback:playback0" },
    };
}

/// <summary>Known sample data and the ALSA command lines to play and record it on the default card.</summary>
internal static class AudioFiles
{
    public static readonly string PlaybackDevice = AlsaCommands.Device(0, 0);
    public static readonly string CaptureDevice = AlsaCommands.Device(0, 1);

    /// <summary>Deterministic full-range samples for a format (finite floats in [−1, 1)).</summary>
    public static byte[] Samples(AudioFormat format, int frames, int seed)
    {
        var random = new Random(seed);
        var data = new byte[frames * format.FrameBytes];
        for (int i = 0; i < frames * format.Channels; i++)
        {
            var at = data.AsSpan(i * format.BytesPerSample);
            switch (format.Format)
            {
                case SampleFormat.S16Le:
                    BinaryPrimitives.WriteInt16LittleEndian(at, (short)random.Next(short.MinValue, short.MaxValue + 1));
                    break;
                case SampleFormat.S24Le:
                    BinaryPrimitives.WriteInt32LittleEndian(at, random.Next(-(1 << 23), 1 << 23)); // sign-extended container
                    break;
                case SampleFormat.S32Le:
                    BinaryPrimitives.WriteInt32LittleEndian(at, random.Next(int.MinValue, int.MaxValue));
                    break;
                default:
                    BinaryPrimitives.WriteSingleLittleEndian(at, (float)((random.NextDouble() * 2) - 1));
                    break;
            }
        }

        return data;
    }

    /// <summary>aplay on stream 0; periods default to about 21 ms (1024 frames up to 48 kHz), so a loaded TCG host keeps up at 192 kHz too.</summary>
    public static string Play(string file, AudioFormat format, int? periodFrames = null, int periods = AlsaCommands.DefaultPeriods) =>
        AlsaCommands.Play(PlaybackDevice, file, format, periodFrames ?? AlsaCommands.PeriodFrames(format.Rate), periods);

    public static string Record(string file, AudioFormat format, int frames, int? periodFrames = null) =>
        AlsaCommands.Record(CaptureDevice, file, format, frames, periodFrames ?? AlsaCommands.PeriodFrames(format.Rate));

    public static IEnumerable<AudioFormat> DefaultModelFormats()
    {
        foreach (var f in new[] { SampleFormat.S16Le, SampleFormat.S24Le, SampleFormat.S32Le, SampleFormat.FloatLe })
        {
            foreach (int rate in SampleFormats.Rates)
            {
                yield return new AudioFormat(f, rate, 2);
            }
        }
    }
}

/// <summary>aplay and arecord through our ALSA driver against what the card's engine saw (issue: bit-exact, every format × rate).</summary>
public sealed class AudioPlaybackTests(AudioGuest guest) : IClassFixture<AudioGuest>
{
    private const int Playback = 0;
    private const int Capture = 1;

    public static TheoryData<SampleFormat, int> Formats()
    {
        var data = new TheoryData<SampleFormat, int>();
        foreach (var f in AudioFiles.DefaultModelFormats())
        {
            data.Add(f.Format, f.Rate);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public async Task Aplay_delivers_exactly_the_files_samples_to_the_cards_sink(SampleFormat sampleFormat, int rate)
    {
        var format = new AudioFormat(sampleFormat, rate, 2);
        int frames = rate / 4; // 250 ms
        var samples = AudioFiles.Samples(format, frames, seed: rate + (int)sampleFormat);
        string file = $"play-{sampleFormat}-{rate}.raw";
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, file), samples);

        var run = await CardRuns.RunOnce(guest, Playback, AudioFiles.Play(file, format), format, frames);

        CardRuns.ShouldStartWith(run.Bytes, samples, $"the sink receives the file's samples from frame 0 ({format})");
    }

    [Fact]
    public async Task Period_interrupts_match_the_periods_played_and_reach_the_guest()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var samples = AudioFiles.Samples(format, 48000, seed: 7);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "periods.raw"), samples);
        var stream = guest.Audio.Streams[Playback];
        long periodsBefore = stream.Statistics.Periods;
        long deliveredBefore = guest.Audio.Function.Interrupts.DeliveredCount(IrqIndex.Msix, 1);
        var before = ProcInterrupts.Parse(await guest.Run("cat /proc/interrupts"));

        await guest.Run(AudioFiles.Play("periods.raw", format, periodFrames: 960, periods: 4));

        var run = stream.Runs[^1];
        long periods = stream.Statistics.Periods - periodsBefore;
        periods.Should().Be(run.TotalFrames / 960, "one IOC per 960-frame period moved (spec §11.1)");
        long delivered = guest.Audio.Function.Interrupts.DeliveredCount(IrqIndex.Msix, 1) - deliveredBefore;
        delivered.Should().Be(periods, "each period's IOC is one MSI-X message on stream 0's vector 1 (spec §5)");
        var after = ProcInterrupts.Parse(await guest.Run("cat /proc/interrupts"));
        (after["pcieemu_audio-v1"] - before["pcieemu_audio-v1"]).Should().BeInRange(periods - 2, periods,
            "the guest kernel counts them (the host may merge back-to-back signals, spec §5)");
    }

    [Fact]
    public async Task Arecord_from_the_tone_gets_exactly_what_the_card_produced()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var stream = guest.Audio.Streams[Capture];
        await guest.Run(AudioFiles.Record("tone.raw", format, 24000));

        var recorded = await File.ReadAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "tone.raw"));
        recorded.Length.Should().Be(24000 * format.FrameBytes);
        var produced = stream.Runs[^1].Bytes;
        produced.AsSpan(0, recorded.Length).SequenceEqual(recorded).Should().BeTrue(
            $"arecord's file must hold the card's capture samples from frame 0; first difference at byte {FrameSearch.FirstDifference(produced, recorded)}");
        for (int n = 0; n < 100; n++)
        {
            BinaryPrimitives.ReadInt16LittleEndian(recorded.AsSpan(4 * n)).Should().Be(
                (short)Math.Round(0.5 * 32767 * Math.Sin(2 * Math.PI * 440 * n / 48000), MidpointRounding.ToEven), "the default source is tone:440,660 (spec §13)");
        }
    }

    [Fact]
    public async Task A_large_buffer_is_granted_as_asked_and_plays_bit_exact()
    {
        // 16 periods of 64 KiB (the default card's MAXSEG, spec §10) = 1 MiB: far above any preallocated size, within the driver's 4 MiB.
        var format = new AudioFormat(SampleFormat.S32Le, 192000, 2);
        var samples = AudioFiles.Samples(format, 96000, seed: 5);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "large.raw"), samples);

        string output = await guest.Run(
            $"{AudioFiles.Play("large.raw", format, periodFrames: 8192, periods: 16)} & sleep 0.3; cat /proc/asound/card0/pcm0p/sub0/hw_params; wait");

        output.Should().Contain("period_size: 8192").And.Contain("buffer_size: 131072", "ALSA got the buffer aplay asked for");
        var run = guest.Audio.Streams[Playback].Runs[^1];
        run.Bytes.AsSpan(0, samples.Length).SequenceEqual(samples).Should().BeTrue(
            $"first difference at byte {FrameSearch.FirstDifference(run.Bytes, samples)}");
    }

    /// <summary>The demo against capture from the tone generator, not the loopback: it must say so.</summary>
    [Fact]
    public async Task Without_the_loopback_the_demo_reports_the_tone_missing_and_fails()
    {
        string output = Directory.CreateTempSubdirectory("pcieemu-demo-test-").FullName;
        try
        {
            var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
            var report = await LoopbackDemo.RunAsync(guest.Session, new DemoOptions(output) { Duration = TimeSpan.FromSeconds(0.25), Formats = [format] });

            var pass = report.Passes.Should().ContainSingle().Subject;
            pass.Checks.PlaybackExact.Should().BeTrue("playback itself still works");
            pass.Checks.RecordingExact.Should().BeTrue("arecord still gets what the card produced (the 440/660 Hz generator)");
            pass.Checks.LoopbackExact.Should().BeFalse("the card's capture never saw the playback");
            report.AllMatched.Should().BeFalse();
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}

/// <summary>Playback looped back into capture inside the card, recorded in the guest; and the demo built on it.</summary>
public sealed class AudioLoopbackTests(LoopbackGuest guest) : IClassFixture<LoopbackGuest>
{
    [Fact]
    public async Task Arecord_of_the_loopback_holds_the_played_samples_and_equals_what_the_card_produced()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var played = AudioFiles.Samples(format, 24000, seed: 11);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "loop-in.raw"), played);
        long violations = guest.Audio.Checker.Count;

        // Capture runs before playback starts, so the recording spans the whole playback.
        await guest.Run(AlsaCommands.RecordWhilePlaying(
            AudioFiles.Record("loop-out.raw", format, 48000), AudioFiles.Play("loop-in.raw", format), card: 0, captureDevice: 1, TimeSpan.FromSeconds(10)));

        var recorded = await File.ReadAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "loop-out.raw"));
        recorded.Length.Should().Be(48000 * format.FrameBytes);
        var produced = guest.Audio.Streams[1].Runs[^1].Bytes;
        produced.AsSpan(0, recorded.Length).SequenceEqual(recorded).Should().BeTrue(
            $"arecord's file is exactly what the card produced; first difference at byte {FrameSearch.FirstDifference(produced, recorded)}");
        var source = (LoopbackSource)((PcieEmu.Devices.AudioCard.Streams.CaptureStream)guest.Audio.Streams[1]).Source;
        FrameSearch.Find(recorded, played, format.FrameBytes).Should().BeGreaterThanOrEqualTo(0,
            $"the played samples arrive in the recording unchanged and contiguous (loopback underflows {source.UnderflowEvents}, overflows {source.OverflowEvents})");
        guest.Audio.Checker.Count.Should().Be(violations);
    }

    [Fact]
    public async Task The_demo_matches_every_format_and_counts_what_moved()
    {
        string output = Directory.CreateTempSubdirectory("pcieemu-demo-test-").FullName;
        try
        {
            var report = await LoopbackDemo.RunAsync(guest.Session, new DemoOptions(output) { Duration = TimeSpan.FromSeconds(0.5) });

            report.Passes.Select(p => p.Format.Format).Should().BeEquivalentTo(
                [SampleFormat.S16Le, SampleFormat.S24Le, SampleFormat.S32Le, SampleFormat.FloatLe], "one pass per format of the default model");
            report.Passes.Select(p => p.Format.Rate).Should().BeEquivalentTo(SampleFormats.Rates, "the passes spread over all four rates");
            foreach (var pass in report.Passes)
            {
                pass.Failure.Should().BeNull(pass.ToString());
                pass.Checks.Should().Be(pass.Checks with { PlaybackExact = true, RecordingExact = true }, pass.Format.ToString());
                pass.Checks.LoopbackExact.Should().BeTrue($"{pass.Format}: the tone is in the recording");
                pass.Matched.Should().BeTrue();
                pass.PlaybackPeriods.Should().BeGreaterThanOrEqualTo(pass.PlayedFrames / pass.PeriodFrames, "every played period raised IOC");
                pass.CapturePeriods.Should().Be(pass.CaptureInterrupts, "each capture IOC is one MSI-X message");
                pass.PlaybackInterrupts.Should().Be(pass.PlaybackPeriods);
                pass.GuestInterrupts.Should().BeInRange(pass.PlaybackInterrupts + pass.CaptureInterrupts - 4, pass.PlaybackInterrupts + pass.CaptureInterrupts,
                    "the guest counts the card's messages (back-to-back signals may merge, spec §5)");
                pass.DmaReadBytes.Should().BeGreaterThanOrEqualTo(pass.PlayedFrames * pass.Format.FrameBytes, "the tone was read by DMA");
                pass.DmaWriteBytes.Should().BeGreaterThanOrEqualTo(pass.RecordedFrames * pass.Format.FrameBytes, "the recording was written by DMA");
                pass.ViolationCount.Should().Be(0);
                var tone = WavReader.ReadAllFrames(pass.ToneWav, out var toneFormat);
                toneFormat.Should().Be(pass.Format);
                tone.Should().Equal(LoopbackDemo.GenerateTone(pass.Format, (int)pass.PlayedFrames));
                WavReader.ReadAllFrames(pass.RecordingWav, out _).Length.Should().Be((int)(pass.RecordedFrames * pass.Format.FrameBytes));
            }

            report.AllMatched.Should().BeTrue();
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
