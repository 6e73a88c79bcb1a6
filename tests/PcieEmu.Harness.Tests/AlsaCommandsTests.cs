using PcieEmu.Devices;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Models;
using PcieEmu.Harness.Audio;

namespace PcieEmu.Harness.Tests;

/// <summary>Which ALSA device reaches which stream (qemu/drivers/pcieemu_audio/README.md, "ALSA contract"), and default buffers.</summary>
public sealed class AlsaCommandsTests
{
    [Fact]
    public void The_default_card_plays_and_records_on_pcm_device_0()
    {
        var model = CardModelLoader.LoadAudio(DataFiles.DefaultModelPath);

        AlsaCommands.StreamDevice(0, model, 0).Should().Be("hw:0,0");
        AlsaCommands.StreamDevice(0, model, 1).Should().Be("hw:0,0", "stream 1 (capture0) is the capture substream of device 0");
        AlsaCommands.StatusFile(0, model, 0).Should().Be("/proc/asound/card0/pcm0p/sub0/status");
        AlsaCommands.StatusFile(1, model, 1).Should().Be("/proc/asound/card1/pcm0c/sub0/status");
    }

    [Fact]
    public void The_pro_card_pairs_the_jth_playback_and_the_jth_capture_stream()
    {
        var model = CardModelLoader.LoadAudio(DataFiles.ProModelPath);

        Enumerable.Range(0, 8).Select(i => AlsaCommands.PcmDevice(model, i)).Should().Equal(0, 1, 2, 3, 0, 1, 2, 3);
        AlsaCommands.StreamDevice(0, model, 6).Should().Be("hw:0,2");
        AlsaCommands.StatusFile(0, model, 6).Should().Be("/proc/asound/card0/pcm2c/sub0/status");
    }

    [Fact]
    public void Unpaired_streams_are_devices_of_their_own()
    {
        StreamLayout S(string name, StreamDirection d) => new(name, d, 2, ["S16_LE"], [48000]);
        var model = CardModelLoader.LoadAudio(DataFiles.DefaultModelPath) with
        {
            Streams = [S("p0", StreamDirection.Playback), S("p1", StreamDirection.Playback), S("p2", StreamDirection.Playback), S("c0", StreamDirection.Capture)],
        };

        Enumerable.Range(0, 4).Select(i => AlsaCommands.PcmDevice(model, i)).Should().Equal(0, 1, 2, 0);
        FluentActions.Invoking(() => AlsaCommands.PcmDevice(model, 4)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Theory]
    [InlineData(1024, 48000, 16)] // 21 ms periods: 16 of them are already a third of a second
    [InlineData(1024, 44100, 16)]
    [InlineData(4096, 192000, 16)]
    [InlineData(256, 48000, 63)] // 5.3 ms periods: a third of a second needs 63
    [InlineData(32, 48000, 256)] // never more than the driver's 256
    public void Default_buffers_hold_at_least_a_third_of_a_second(int periodFrames, int rate, int periods)
    {
        AlsaCommands.DefaultPeriodsFor(periodFrames, rate).Should().Be(periods);
        string play = AlsaCommands.Play(null, "f.raw", new AudioFormat(SampleFormat.S16Le, rate, 2), periodFrames);
        play.Should().NotContain("-D ", "no device: ALSA's default").And.Contain($"--buffer-size={periodFrames * periods} ");
    }
}
