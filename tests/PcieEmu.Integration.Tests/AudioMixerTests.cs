using System.Globalization;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Harness.Audio;

namespace PcieEmu.Integration.Tests;

/// <summary>The default card for the mixer tests; each test puts the mixer back to 0 dB, unmuted, when it ends.</summary>
public sealed class MixerGuest : GuestFixture;

/// <summary>The driver's mixer controls (qemu/drivers/pcieemu_audio/README.md "Mixer") and the card's SD_CHVOL view of them.</summary>
internal static class AudioMixer
{
    public const string PlaybackVolume = "PCM Playback Volume";
    public const string PlaybackSwitch = "PCM Playback Switch";
    public const string CaptureVolume = "PCM Capture Volume";
    public const string CaptureSwitch = "PCM Capture Switch";

    /// <summary>SD_CHVOL.MUTE (spec §9.1).</summary>
    public const ulong Mute = 0x100;

    /// <summary>SD_CHVOL after reset and after <see cref="Unity"/>: LEVEL 192 (0 dB), MUTE clear (spec §9.1, §12).</summary>
    public const ulong ResetValue = ChannelGain.UnityLevel;

    /// <summary>
    /// amixer line setting control <paramref name="name"/> of stream <paramref name="stream"/> (values comma-separated, one
    /// per channel). The control's index is the stream's PCM device (playback and capture of device d are index d).
    /// </summary>
    public static string Set(AudioCard card, string name, int stream, string values) => SetOnDevice(name, AlsaCommands.PcmDevice(card.Model, stream), values);

    public static string Get(AudioCard card, string name, int stream) => GetOnDevice(name, AlsaCommands.PcmDevice(card.Model, stream));

    /// <summary>amixer line setting control <paramref name="name"/> of PCM device <paramref name="pcmDevice"/>.</summary>
    public static string SetOnDevice(string name, int pcmDevice, string values) =>
        string.Create(CultureInfo.InvariantCulture, $"amixer -q -c 0 cset name='{name}',index={pcmDevice} {values}");

    public static string GetOnDevice(string name, int pcmDevice) =>
        string.Create(CultureInfo.InvariantCulture, $"amixer -c 0 cget name='{name}',index={pcmDevice}");

    /// <summary>Both controls of a stream back to 0 dB, unmuted, on every channel.</summary>
    public static string Unity(AudioCard card, Devices.AudioCard.Streams.AudioStream stream)
    {
        int channels = stream.Layout.MaxChannels;
        string levels = string.Join(',', Enumerable.Repeat("192", channels));
        string on = string.Join(',', Enumerable.Repeat("on", channels));
        return stream.IsCapture
            ? $"{Set(card, CaptureVolume, stream.Index, levels)} && {Set(card, CaptureSwitch, stream.Index, on)}"
            : $"{Set(card, PlaybackVolume, stream.Index, levels)} && {Set(card, PlaybackSwitch, stream.Index, on)}";
    }

    /// <summary>SD_CHVOL<paramref name="channel"/> of <paramref name="stream"/> as the card holds it (spec §9.1).</summary>
    public static ulong ChannelVolume(AudioCard card, int stream, int channel) =>
        card.PeekRegister((AudioRegister)(AudioSdBlock.Offset(stream, AudioSdRegister.Chvol) + ((uint)channel * AudioSdBlock.ChvolStride)));

    /// <summary>The samples a capture stream with the default route tone:440,660 produces from frame 0 (spec §13), before gain.</summary>
    public static byte[] Tone(AudioFormat format, int frames)
    {
        using var tone = new ToneSource("440,660");
        tone.Start(format).Should().BeNull();
        var data = new byte[frames * format.FrameBytes];
        tone.Read(data, firstFrame: 0);
        return data;
    }

    /// <summary><paramref name="samples"/> after the spec §12 gain stage (the card's scalar reference, proven against §12 by unit tests).</summary>
    public static byte[] Gained(byte[] samples, AudioFormat format, params ChannelGain[] gains)
    {
        var expected = samples.ToArray();
        GainStage.ApplyScalar(expected, format.Format, format.Channels, gains);
        return expected;
    }
}

/// <summary>
/// amixer changes the samples exactly as spec §12 says: g = 10^((LEVEL − 192) / 40) per channel, round half to even
/// and saturation for integers, no saturation for FLOAT_LE, MUTE → 0. The expected bytes come from the card's
/// scalar gain reference; what is compared is the card's own record of each run (what the sink got, what the card
/// wrote) and, for capture, arecord's file.
/// </summary>
public sealed class AudioMixerTests(MixerGuest guest) : IClassFixture<MixerGuest>, IAsyncLifetime
{
    private const int Playback = 0;
    private const int Capture = 1;
    private const int Frames = 12000; // 250 ms at 48 kHz

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Every test ends with the mixer at its reset state, so tests do not see each other's levels.</summary>
    public async Task DisposeAsync()
    {
        await guest.Run($"{AudioMixer.Unity(guest.Audio, guest.Audio.Streams[Playback])} && {AudioMixer.Unity(guest.Audio, guest.Audio.Streams[Capture])}");
        foreach (var stream in new[] { Playback, Capture })
        {
            for (int c = 0; c < 2; c++)
            {
                AudioMixer.ChannelVolume(guest.Audio, stream, c).Should().Be(AudioMixer.ResetValue, $"stream {stream} channel {c} is back to 0 dB, unmuted");
            }
        }
    }

    [Theory]
    [InlineData(SampleFormat.S16Le, 172, 192)]
    [InlineData(SampleFormat.S24Le, 172, 192)]
    [InlineData(SampleFormat.S32Le, 172, 192)]
    [InlineData(SampleFormat.FloatLe, 172, 192)]
    [InlineData(SampleFormat.S16Le, 0, 96)]
    [InlineData(SampleFormat.FloatLe, 191, 1)]
    public async Task Playback_volume_scales_each_channel_by_its_own_level_spec_12(SampleFormat sampleFormat, int left, int right)
    {
        var format = new AudioFormat(sampleFormat, 48000, 2);
        var samples = AudioFiles.Samples(format, Frames, seed: 1200 + (10 * left) + right + (int)sampleFormat);
        string file = $"mixer-volume-{sampleFormat}-{left}-{right}.raw";
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, file), samples);

        await guest.Run(AudioMixer.Set(guest.Audio, AudioMixer.PlaybackVolume, Playback, $"{left},{right}"));

        (await guest.Run(AudioMixer.Get(guest.Audio, AudioMixer.PlaybackVolume, Playback))).Should().Contain($": values={left},{right}", "the control reads back what was set");
        AudioMixer.ChannelVolume(guest.Audio, Playback, 0).Should().Be((ulong)left, "SD_CHVOL0.LEVEL is the left value, MUTE clear (spec §9.1)");
        AudioMixer.ChannelVolume(guest.Audio, Playback, 1).Should().Be((ulong)right, "SD_CHVOL1.LEVEL is the right value");
        var expected = AudioMixer.Gained(samples, format, new ChannelGain((byte)left, false), new ChannelGain((byte)right, false));
        expected.AsSpan().SequenceEqual(samples).Should().BeFalse("the levels below 192 change the samples, so the comparison below can fail");

        var run = await PlayOnce(file, format);

        run.Bytes.AsSpan(0, expected.Length).SequenceEqual(expected).Should().BeTrue(
            $"the sink gets each sample × 10^((LEVEL − 192) / 40), rounded as spec §12 says ({format}, levels {left},{right}); " +
            $"first difference at byte {FrameSearch.FirstDifference(run.Bytes, expected)}");
    }

    [Theory]
    [InlineData(SampleFormat.S16Le)]
    [InlineData(SampleFormat.FloatLe)]
    public async Task Playback_switch_off_mutes_only_that_channel_spec_12(SampleFormat sampleFormat)
    {
        var format = new AudioFormat(sampleFormat, 48000, 2);
        var samples = AudioFiles.Samples(format, Frames, seed: 1300 + (int)sampleFormat);
        string file = $"mixer-mute-{sampleFormat}.raw";
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, file), samples);

        await guest.Run(AudioMixer.Set(guest.Audio, AudioMixer.PlaybackSwitch, Playback, "on,off"));

        AudioMixer.ChannelVolume(guest.Audio, Playback, 0).Should().Be(AudioMixer.ResetValue, "the left channel stays at 0 dB, unmuted");
        AudioMixer.ChannelVolume(guest.Audio, Playback, 1).Should().Be(AudioMixer.Mute | ChannelGain.UnityLevel, "switch off sets SD_CHVOL1.MUTE and keeps LEVEL (spec §9.1)");
        var expected = AudioMixer.Gained(samples, format, ChannelGain.Unity, new ChannelGain(ChannelGain.UnityLevel, true));

        var run = await PlayOnce(file, format);

        run.Bytes.AsSpan(0, expected.Length).SequenceEqual(expected).Should().BeTrue(
            $"left passes unchanged, right is all zeros (+0.0 for FLOAT_LE), spec §12; first difference at byte {FrameSearch.FirstDifference(run.Bytes, expected)}");
        Channel(run.Bytes, format, 1, Frames).Should().OnlyContain(b => b == 0, "the muted right channel is all zero bytes");

        run.Bytes.AsSpan(0, expected.Length).SequenceEqual(samples).Should().BeFalse("the random right channel is not silent in the file");
    }

    [Theory]
    [InlineData(SampleFormat.S16Le, 204, 192)]
    [InlineData(SampleFormat.S16Le, 204, 255)]
    [InlineData(SampleFormat.S24Le, 204, 255)]
    [InlineData(SampleFormat.S32Le, 204, 255)]
    [InlineData(SampleFormat.FloatLe, 204, 255)]
    [InlineData(SampleFormat.S16Le, 100, 0)]
    public async Task Capture_gain_scales_the_tone_before_the_card_writes_it_spec_12(SampleFormat sampleFormat, int left, int right)
    {
        var format = new AudioFormat(sampleFormat, 48000, 2);
        string file = $"mixer-gain-{sampleFormat}-{left}-{right}.raw";

        await guest.Run(AudioMixer.Set(guest.Audio, AudioMixer.CaptureVolume, Capture, $"{left},{right}"));

        AudioMixer.ChannelVolume(guest.Audio, Capture, 0).Should().Be((ulong)left, "SD_CHVOL0.LEVEL of the capture stream (capture accepts 0..255, spec §12)");
        AudioMixer.ChannelVolume(guest.Audio, Capture, 1).Should().Be((ulong)right);
        var tone = AudioMixer.Tone(format, Frames);
        var expected = AudioMixer.Gained(tone, format, new ChannelGain((byte)left, false), new ChannelGain((byte)right, false));
        expected.AsSpan().SequenceEqual(tone).Should().BeFalse("the gain changes the tone, so the comparison below can fail");

        var (produced, recorded) = await RecordOnce(file, format);

        produced.AsSpan(0, expected.Length).SequenceEqual(expected).Should().BeTrue(
            $"the card writes tone × 10^((LEVEL − 192) / 40), saturated for integers (255 = +31.5 dB clips the 0.5 tone), spec §12 ({format}, levels {left},{right}); " +
            $"first difference at byte {FrameSearch.FirstDifference(produced, expected)}");
        recorded.Should().HaveCount(expected.Length);
        recorded.AsSpan().SequenceEqual(expected).Should().BeTrue($"arecord's file holds the gained samples; first difference at byte {FrameSearch.FirstDifference(recorded, expected)}");
    }

    [Fact]
    public async Task Capture_switch_off_writes_zeros_on_that_channel_spec_12()
    {
        var format = new AudioFormat(SampleFormat.S32Le, 48000, 2);

        await guest.Run($"{AudioMixer.Set(guest.Audio, AudioMixer.CaptureVolume, Capture, "204,204")} && {AudioMixer.Set(guest.Audio, AudioMixer.CaptureSwitch, Capture, "off,on")}");

        AudioMixer.ChannelVolume(guest.Audio, Capture, 0).Should().Be(AudioMixer.Mute | 204, "MUTE set, LEVEL kept");
        AudioMixer.ChannelVolume(guest.Audio, Capture, 1).Should().Be(204);
        var tone = AudioMixer.Tone(format, Frames);
        var expected = AudioMixer.Gained(tone, format, new ChannelGain(204, true), new ChannelGain(204, false));

        var (produced, recorded) = await RecordOnce("mixer-capture-mute.raw", format);

        produced.AsSpan(0, expected.Length).SequenceEqual(expected).Should().BeTrue(
            $"left is zero whatever its level, right is the 660 Hz tone at +6 dB (spec §12); first difference at byte {FrameSearch.FirstDifference(produced, expected)}");
        recorded.AsSpan().SequenceEqual(expected).Should().BeTrue($"arecord's file equals it; first difference at byte {FrameSearch.FirstDifference(recorded, expected)}");
        Channel(expected, format, 1, Frames).Should().Contain(b => b != 0, "the right channel is not silent");
    }

    /// <summary>The bytes of channel <paramref name="channel"/> in the first <paramref name="frames"/> frames.</summary>
    private static byte[] Channel(byte[] data, AudioFormat format, int channel, int frames)
    {
        var bytes = new byte[frames * format.BytesPerSample];
        for (int f = 0; f < frames; f++)
        {
            data.AsSpan((f * format.FrameBytes) + (channel * format.BytesPerSample), format.BytesPerSample).CopyTo(bytes.AsSpan(f * format.BytesPerSample));
        }

        return bytes;
    }

    /// <summary>One aplay on stream 0: exactly one new run, no violation; returns the card's record of it.</summary>
    private Task<RecordedRun> PlayOnce(string file, AudioFormat format) =>
        CardRuns.RunOnce(guest, Playback, AudioFiles.Play(file, format), format, Frames);

    /// <summary>One arecord of <see cref="Frames"/> frames on stream 1: returns what the card wrote and arecord's file.</summary>
    private async Task<(byte[] Produced, byte[] Recorded)> RecordOnce(string file, AudioFormat format)
    {
        var run = await CardRuns.RunOnce(guest, Capture, AudioFiles.Record(file, format, Frames), format, Frames);
        var recorded = await File.ReadAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, file));
        return (run.Bytes, recorded);
    }
}
