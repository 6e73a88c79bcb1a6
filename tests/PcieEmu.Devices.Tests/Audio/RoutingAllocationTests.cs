using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.Audio.Wav;
using PcieEmu.Devices.Tests.Audio.Wav;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.Devices.Tests.Audio.Routing;

/// <summary>
/// Steady-state Write/Read allocate nothing (the endpoints' contract): measured on this thread after a warm-up that
/// absorbs JIT tier-up and one-time buffers.
/// </summary>
public sealed class RoutingAllocationTests : IDisposable
{
    private const int Warmup = 3000;
    private const int Measured = 3000;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Bytes this thread allocated over <see cref="Measured"/> calls after the warm-up, in the quietest window.</summary>
    private static long Allocated(Action call)
    {
        for (int i = 0; i < Warmup; i++)
        {
            call();
        }

        return SteadyStateAllocation.OnThisThread(() =>
        {
            for (int i = 0; i < Measured; i++)
            {
                call();
            }
        });
    }

    [Theory]
    [InlineData(SampleFormat.S16Le)]
    [InlineData(SampleFormat.S24Le)]
    [InlineData(SampleFormat.S32Le)]
    [InlineData(SampleFormat.FloatLe)]
    public void Tone_read_allocates_nothing(SampleFormat sampleFormat)
    {
        var format = new AudioFormat(sampleFormat, 48000, 2);
        using var tone = new ToneSource("440@0.5,660.25");
        tone.Start(format);
        var buf = new byte[48 * format.FrameBytes];
        long frame = 0;
        Allocated(() => tone.Read(buf, frame += 48)).Should().Be(0);
    }

    [Fact]
    public void Silence_and_null_allocate_nothing()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        using var silence = new SilenceSource();
        using var sink = new NullSink();
        silence.Start(format);
        sink.Start(format);
        var buf = new byte[192];
        Allocated(() =>
        {
            silence.Read(buf, 0);
            sink.Write(buf);
        }).Should().Be(0);
    }

    [Fact]
    public void Wav_source_read_allocates_nothing()
    {
        var fileFormat = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        string path = Path.Combine(_dir.Path, "src.wav");
        using (var w = new WavWriter(path, fileFormat))
        {
            w.Write(Samples.Random(fileFormat, 1000, 1));
        }

        using var source = new WavFileSource(path);
        var format = new AudioFormat(SampleFormat.FloatLe, 48000, 3);
        source.Start(format).Should().BeNull();
        var buf = new byte[100 * format.FrameBytes];
        long frame = 0;
        Allocated(() => source.Read(buf, frame += 100)).Should().Be(0);
    }

    [Theory]
    [InlineData(SampleFormat.S16Le, 2)]
    [InlineData(SampleFormat.FloatLe, 1)]
    public void Loopback_write_and_read_allocate_nothing_with_or_without_conversion(SampleFormat captureFormat, int captureChannels)
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        var playback = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var capture = new AudioFormat(captureFormat, 48000, captureChannels);
        using var sink = hub.CreateSink("p");
        using var a = hub.CreateSource("p");
        using var b = hub.CreateSource("p");
        sink.Start(playback);
        a.Start(capture);
        b.Start(capture);
        byte[] frames = Samples.Random(playback, 2000, 2); // larger than one conversion chunk
        var into = new byte[2000 * capture.FrameBytes];
        var small = new byte[10 * capture.FrameBytes];
        Allocated(() =>
        {
            sink.Write(frames);
            a.Read(into, 0);
            b.Read(small, 0); // b falls behind: overflow path too
        }).Should().Be(0);
        b.OverflowFrames.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Memory_sink_and_recorder_allocate_nothing_per_call_and_nothing_at_the_cap()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var frames = new byte[192];
        using var capped = new MemorySink(capBytes: 4096);
        capped.Start(format);
        Allocated(() => capped.Write(frames)).Should().Be(0);
        capped.KeptBytes.Should().Be(4096);

        // Below the cap only chunk growth allocates: total allocation stays within the data kept plus one chunk.
        var recorder = new SampleRecorder();
        recorder.BeginRun(format);
        long allocated = Allocated(() => recorder.Append(frames));
        allocated.Should().BeLessThanOrEqualTo((Measured * 192) + (1 << 20) + 4096);
        long before = GC.GetAllocatedBytesForCurrentThread();
        recorder.Append(frames.AsSpan(0, 4)); // fits in the current chunk
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().Be(0);
    }

    [Fact]
    public void Wav_sink_write_allocates_nothing_including_block_writes_and_header_patches()
    {
        var format = new AudioFormat(SampleFormat.S24Le, 48000, 2);
        using var sink = new WavFileSink(Path.Combine(_dir.Path, "alloc.wav"), patchIntervalBytes: 4096);
        sink.Start(format);
        var frames = new byte[48 * format.FrameBytes]; // a block write every ~11 calls
        Allocated(() => sink.Write(frames)).Should().Be(0);
        sink.Stop();
        sink.LastError.Should().BeNull();
    }
}
