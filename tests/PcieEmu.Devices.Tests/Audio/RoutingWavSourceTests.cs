using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.Audio.Wav;
using PcieEmu.Devices.Tests.Audio.Wav;

namespace PcieEmu.Devices.Tests.Audio.Routing;

public sealed class RoutingWavSourceTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string WriteWav(string name, AudioFormat format, byte[] frames)
    {
        string path = Path.Combine(_dir.Path, name);
        using var w = new WavWriter(path, format);
        w.Write(frames);
        return path;
    }

    [Fact]
    public void The_file_loops_frame_n_is_file_frame_n_mod_length_in_any_chunking()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        byte[] file = Samples.Random(format, 7, 1);
        using var source = new WavFileSource(WriteWav("loop.wav", format, file));
        source.Start(format).Should().BeNull();
        source.LoopFrames.Should().Be(7);
        source.FileFormat.Should().Be(format);

        var whole = new byte[30 * 4];
        source.Read(whole, 3);
        for (int i = 0; i < 30; i++)
        {
            whole.AsSpan(i * 4, 4).ToArray().Should().Equal(file.AsSpan((3 + i) % 7 * 4, 4).ToArray());
        }

        var chunked = new byte[30 * 4];
        foreach (var (at, n) in new[] { (0, 1), (1, 13), (14, 16) })
        {
            source.Read(chunked.AsSpan(at * 4, n * 4), 3 + at);
        }

        chunked.Should().Equal(whole);
        var late = new byte[4];
        source.Read(late, 7_000_000_000_003);
        late.Should().Equal(file.AsSpan(3 * 4, 4).ToArray());
    }

    [Fact]
    public void Format_and_channels_are_converted_to_the_stream_format()
    {
        var fileFormat = new AudioFormat(SampleFormat.S16Le, 44100, 2);
        string path = WriteWav("conv.wav", fileFormat, Samples.S16(16384, -32768, -1, 1));
        using var source = new WavFileSource(path);

        source.Start(new AudioFormat(SampleFormat.S32Le, 44100, 1)).Should().BeNull();
        var b = new byte[8];
        source.Read(b, 0);
        Samples.ToI32(b).Should().Equal(16384 << 16, -1 << 16);

        source.Start(new AudioFormat(SampleFormat.FloatLe, 44100, 3)).Should().BeNull();
        b = new byte[24];
        source.Read(b, 0);
        Samples.ToF32(b).Should().Equal(0.5f, -1f, 0f, -1f / 32768, 1f / 32768, 0f);
    }

    [Fact]
    public void A_rate_mismatch_is_a_start_error()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 44100, 2);
        using var source = new WavFileSource(WriteWav("r.wav", format, new byte[40]));
        source.Start(format with { Rate = 48000 }).Should().Contain("44100").And.Contain("48000").And.Contain("no resampling");
        source.Invoking(s => s.Read(new byte[4], 0)).Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Missing_malformed_unsupported_and_empty_files_are_start_errors()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        using var missing = new WavFileSource(Path.Combine(_dir.Path, "nope.wav"));
        missing.Start(format).Should().Contain("no such file");

        string junk = _dir.Write("junk.wav", "this is not a wav file");
        using var malformed = new WavFileSource(junk);
        malformed.Start(format).Should().Contain("not a RIFF file");

        string alaw = Path.Combine(_dir.Path, "alaw.wav");
        File.WriteAllBytes(alaw, new WavBuilder().Chunk("fmt ", WavBuilder.PcmFmt(6, 1, 48000, 8)).Chunk("data", new byte[8]).Build());
        using var unsupported = new WavFileSource(alaw);
        unsupported.Start(format).Should().Contain("A-law");

        using var empty = new WavFileSource(WriteWav("empty.wav", format, []));
        empty.Start(format).Should().Contain("no frames");

        using var big = new WavFileSource(WriteWav("big.wav", format, new byte[4000]), maxBytes: 1000);
        big.Start(format).Should().Contain("1000 allowed");
    }

    [Fact]
    public void A_changed_file_is_read_again_at_the_next_start()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 1);
        string path = WriteWav("c.wav", format, Samples.S16(1, 2));
        using var source = new WavFileSource(path);
        source.Start(format);
        var b = new byte[4];
        source.Read(b, 0);
        Samples.ToS16(b).Should().Equal(1, 2);

        WriteWav("c.wav", format, Samples.S16(3, 4, 5));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        source.Start(format);
        b = new byte[6];
        source.Read(b, 0);
        Samples.ToS16(b).Should().Equal(3, 4, 5);
    }
}
