using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.Audio.Wav;
using PcieEmu.Devices.Tests.Audio.Wav;

namespace PcieEmu.Devices.Tests.Audio.Routing;

public sealed class RoutingSinkTests : IDisposable
{
    private static readonly AudioFormat S16Stereo = new(SampleFormat.S16Le, 48000, 2);
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Memory_sink_keeps_one_run_per_start_with_its_format()
    {
        using var sink = new MemorySink();
        sink.LastRun.Should().BeNull();
        sink.Start(S16Stereo);
        byte[] a = Samples.Random(S16Stereo, 100, 1);
        sink.Write(a.AsSpan(0, 40));
        sink.Write(a.AsSpan(40));
        sink.Stop();
        var f = new AudioFormat(SampleFormat.FloatLe, 96000, 1);
        sink.Start(f);
        byte[] b = Samples.Random(f, 10, 2);
        sink.Write(b);

        sink.Runs.Should().HaveCount(2);
        sink.Runs[0].Format.Should().Be(S16Stereo);
        sink.Runs[0].Bytes.Should().Equal(a);
        sink.Runs[0].TotalFrames.Should().Be(100);
        sink.LastRun!.Format.Should().Be(f);
        sink.LastRun.Bytes.Should().Equal(b);
        sink.Description.Should().Be("memory");
    }

    [Fact]
    public void Memory_sink_keeps_the_oldest_bytes_up_to_its_cap_and_counts_the_rest()
    {
        using var sink = new MemorySink(capBytes: 1002);
        sink.CapBytes.Should().Be(1002);
        sink.Start(S16Stereo);
        byte[] a = Samples.Random(S16Stereo, 300, 3);
        sink.Write(a);
        sink.KeptBytes.Should().Be(1000, "whole frames only");
        sink.DroppedBytes.Should().Be(200);
        sink.LastRun!.Bytes.Should().Equal(a.AsSpan(0, 1000).ToArray());
        sink.LastRun.TotalFrames.Should().Be(300);
        sink.LastRun.KeptFrames.Should().Be(250);
        sink.LastRun.DroppedFrames.Should().Be(50);
        sink.LastRun.IsComplete.Should().BeFalse();
        sink.Start(S16Stereo);
        sink.Write(a);
        sink.LastRun!.Bytes.Should().BeEmpty();
        sink.DroppedBytes.Should().Be(1400);
        sink.Clear();
        sink.KeptBytes.Should().Be(0);
        sink.Write(a.AsSpan(0, 8));
        sink.Runs.Should().ContainSingle().Which.Bytes.Should().Equal(a.AsSpan(0, 8).ToArray());
    }

    [Fact]
    public void Memory_sink_refuses_writes_before_start()
    {
        using var sink = new MemorySink();
        sink.Invoking(s => s.Write(new byte[4])).Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Null_sink_drops_and_counts()
    {
        using var sink = new NullSink();
        sink.Start(S16Stereo);
        sink.Write(new byte[40]);
        sink.Stop();
        sink.BytesDropped.Should().Be(40);
        sink.Description.Should().Be("null");
    }

    [Theory]
    [InlineData("/tmp/out.wav", 0, "/tmp/out.wav")]
    [InlineData("/tmp/out.wav", 1, "/tmp/out-1.wav")]
    [InlineData("/tmp/out.wav", 12, "/tmp/out-12.wav")]
    [InlineData("/tmp/out", 2, "/tmp/out-2")]
    [InlineData("/tmp/a.b/out", 1, "/tmp/a.b/out-1")]
    [InlineData("rel.x.wav", 3, "rel.x-3.wav")]
    public void Wav_sink_run_files_insert_the_run_number_before_the_extension(string path, int run, string expected) =>
        WavFileSink.RunPath(path, run).Should().Be(expected);

    [Fact]
    public void Wav_sink_writes_one_complete_file_per_run_in_the_runs_format()
    {
        string path = Path.Combine(_dir.Path, "out.wav");
        using var sink = new WavFileSink(path);
        sink.Description.Should().Be("wav:" + path);
        var formats = new[] { S16Stereo, new AudioFormat(SampleFormat.S24Le, 96000, 1), new AudioFormat(SampleFormat.FloatLe, 44100, 4) };
        var written = new List<byte[]>();
        foreach (var f in formats)
        {
            sink.Start(f);
            byte[] data = Samples.Random(f, 3000, written.Count);
            sink.Write(data.AsSpan(0, f.FrameBytes * 1000));
            sink.Write(data.AsSpan(f.FrameBytes * 1000));
            sink.Stop();
            written.Add(data);
        }

        sink.Files.Should().Equal(path, Path.Combine(_dir.Path, "out-1.wav"), Path.Combine(_dir.Path, "out-2.wav"));
        for (int i = 0; i < formats.Length; i++)
        {
            byte[] back = WavReader.ReadAllFrames(sink.Files[i], out var format);
            format.Should().Be(formats[i]);
            back.Should().Equal(written[i]);
        }

        sink.LastError.Should().BeNull();
        sink.DroppedBytes.Should().Be(0);
    }

    [Fact]
    public void Wav_sink_file_is_readable_while_the_run_is_still_going()
    {
        string path = Path.Combine(_dir.Path, "live.wav");
        using var sink = new WavFileSink(path);
        sink.Start(S16Stereo);
        byte[] data = Samples.Random(S16Stereo, 48000, 9);
        sink.Write(data);
        using (var r = WavReader.Open(path))
        {
            r.FrameCount.Should().BeGreaterThan(48000 - (64 * 1024 / 4));
        }

        sink.Stop();
        WavReader.ReadAllFrames(path, out _).Should().Equal(data);
    }

    [Fact]
    public void Wav_sink_start_without_stop_completes_the_previous_file()
    {
        string path = Path.Combine(_dir.Path, "twice.wav");
        using var sink = new WavFileSink(path);
        sink.Start(S16Stereo);
        sink.Write(Samples.S16(1, 2));
        sink.Start(S16Stereo);
        sink.Write(Samples.S16(3, 4));
        sink.Dispose();
        WavReader.ReadAllFrames(path, out _).Should().Equal(Samples.S16(1, 2));
        WavReader.ReadAllFrames(Path.Combine(_dir.Path, "twice-1.wav"), out _).Should().Equal(Samples.S16(3, 4));
    }

    [Fact]
    public void Wav_sink_io_errors_are_reported_not_thrown_and_the_run_is_dropped()
    {
        string path = Path.Combine(_dir.Path, "missing-dir", "out.wav");
        using var sink = new WavFileSink(path);
        sink.Start(S16Stereo);
        sink.Write(new byte[40]);
        sink.Stop();
        sink.LastError.Should().Contain(path);
        sink.DroppedBytes.Should().Be(40);
        sink.Files.Should().BeEmpty();

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        sink.Start(S16Stereo);
        sink.Write(Samples.S16(5, 6));
        sink.Stop();
        sink.Files.Should().Equal(WavFileSink.RunPath(path, 1));
        WavReader.ReadAllFrames(sink.Files[0], out _).Should().Equal(Samples.S16(5, 6));
    }
}
