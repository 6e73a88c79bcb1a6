using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.Tests.Audio.Wav;

namespace PcieEmu.Devices.Tests.Audio.Routing;

public sealed class RoutingLoopbackTests
{
    private static readonly AudioFormat S16Stereo = new(SampleFormat.S16Le, 48000, 2);

    private static byte[] Counter(int first, int frames, int channels = 2) =>
        Samples.S16([.. Enumerable.Range(0, frames * channels).Select(i => (short)(first + (i / channels)))]);

    private static byte[] Read(LoopbackSource source, AudioFormat format, int frames)
    {
        var b = new byte[frames * format.FrameBytes];
        source.Read(b, 0);
        return b;
    }

    [Fact]
    public void A_reader_waits_for_the_jitter_buffer_then_reads_contiguously_and_primes_again_after_running_empty_spec_13()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.FromMilliseconds(1)); // 48 frames at 48 kHz
        using var sink = hub.CreateSink("playback0");
        using var source = hub.CreateSource("playback0");
        sink.Start(S16Stereo);
        source.Start(S16Stereo).Should().BeNull();

        sink.Write(Counter(1, 40));
        Read(source, S16Stereo, 10).Should().OnlyContain(b => b == 0, "40 frames buffered, the jitter buffer wants 48");
        sink.Write(Counter(41, 20));
        Read(source, S16Stereo, 30).Should().Equal(Counter(1, 30), "60 frames buffered: reading starts with the oldest");
        Read(source, S16Stereo, 30).Should().Equal(Counter(31, 30));
        var tail = Read(source, S16Stereo, 10);
        tail.Should().OnlyContain(b => b == 0, "ran empty");
        sink.Write(Counter(61, 10));
        Read(source, S16Stereo, 10).Should().OnlyContain(b => b == 0, "after running empty the reader primes again");
    }

    [Fact]
    public void Frames_pass_through_unchanged_in_the_same_format()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        using var sink = hub.CreateSink("playback0");
        using var source = hub.CreateSource("playback0");
        sink.Start(S16Stereo);
        source.Start(S16Stereo).Should().BeNull();
        byte[] data = Samples.Random(S16Stereo, 300, seed: 1);
        sink.Write(data.AsSpan(0, 100 * 4));
        sink.Write(data.AsSpan(100 * 4));
        Read(source, S16Stereo, 120).Should().Equal(data.AsSpan(0, 120 * 4).ToArray());
        Read(source, S16Stereo, 180).Should().Equal(data.AsSpan(120 * 4).ToArray());
        source.UnderflowEvents.Should().Be(0);
        sink.Description.Should().Be("loopback");
        source.Description.Should().Be("loopback:playback0");
    }

    [Fact]
    public void A_short_read_gets_the_frames_there_then_zeros_and_counts_an_underflow()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        using var sink = hub.CreateSink("p");
        using var source = hub.CreateSource("p");
        sink.Start(S16Stereo);
        source.Start(S16Stereo);
        sink.Write(Counter(1, 60));
        byte[] got = Read(source, S16Stereo, 100);
        got.AsSpan(0, 240).ToArray().Should().Equal(Counter(1, 60));
        got.AsSpan(240).ToArray().Should().OnlyContain(b => b == 0);
        source.UnderflowEvents.Should().Be(1);
        source.UnderflowFrames.Should().Be(40);
        Read(source, S16Stereo, 10).Should().OnlyContain(b => b == 0);
        source.UnderflowEvents.Should().Be(2);
        source.UnderflowFrames.Should().Be(50);
        sink.Write(Counter(61, 5));
        Read(source, S16Stereo, 5).Should().Equal(Counter(61, 5), "zeros are inserted, no data is skipped");
    }

    [Fact]
    public void Each_reader_has_its_own_position_starting_at_what_is_produced_after_its_start()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        using var sink = hub.CreateSink("p");
        using var early = hub.CreateSource("p");
        using var late = hub.CreateSource("p");
        sink.Start(S16Stereo);
        early.Start(S16Stereo);
        sink.Write(Counter(1, 10));
        late.Start(S16Stereo);
        sink.Write(Counter(11, 10));

        Read(early, S16Stereo, 5).Should().Equal(Counter(1, 5));
        Read(late, S16Stereo, 10).Should().Equal(Counter(11, 10), "the late reader never sees frames 1..10");
        Read(early, S16Stereo, 15).Should().Equal(Counter(6, 15));
        early.BufferedFrames.Should().Be(0);
        late.BufferedFrames.Should().Be(0);

        late.Stop();
        sink.Write(Counter(21, 4));
        Read(early, S16Stereo, 4).Should().Equal(Counter(21, 4));
        late.Start(S16Stereo);
        Read(late, S16Stereo, 4).Should().OnlyContain(b => b == 0, "a restarted reader starts empty");
    }

    [Fact]
    public void A_slow_reader_loses_its_oldest_frames_and_counts_them()
    {
        var hub = new LoopbackHub(TimeSpan.FromMilliseconds(10), jitterBuffer: TimeSpan.Zero); // 480 frames at 48 kHz
        using var sink = hub.CreateSink("p");
        using var slow = hub.CreateSource("p");
        using var fast = hub.CreateSource("p");
        sink.Start(S16Stereo);
        slow.Start(S16Stereo);
        fast.Start(S16Stereo);
        slow.CapacityFrames.Should().Be(480);
        for (int i = 0; i < 6; i++)
        {
            sink.Write(Counter(1 + (i * 100), 100));
            Read(fast, S16Stereo, 100).Should().Equal(Counter(1 + (i * 100), 100));
        }

        slow.OverflowFrames.Should().Be(120);
        slow.OverflowEvents.Should().Be(2, "the 5th write dropped 20 frames, the 6th 100");
        Read(slow, S16Stereo, 480).Should().Equal(Counter(121, 480), "the newest 480 frames remain");
        fast.OverflowFrames.Should().Be(0);
    }

    [Fact]
    public void A_write_bigger_than_the_fifo_keeps_only_its_newest_part()
    {
        var hub = new LoopbackHub(TimeSpan.FromMilliseconds(1), jitterBuffer: TimeSpan.Zero); // 48 frames
        using var sink = hub.CreateSink("p");
        using var source = hub.CreateSource("p");
        sink.Start(S16Stereo);
        source.Start(S16Stereo);
        sink.Write(Counter(1, 10));
        sink.Write(Counter(11, 100));
        source.OverflowFrames.Should().Be(62);
        Read(source, S16Stereo, 48).Should().Equal(Counter(63, 48));
    }

    [Fact]
    public void The_byte_cap_bounds_the_fifo()
    {
        var hub = new LoopbackHub(TimeSpan.FromSeconds(10), maxBufferBytes: 4000, jitterBuffer: TimeSpan.Zero);
        using var source = hub.CreateSource("p");
        source.Start(S16Stereo);
        source.CapacityFrames.Should().Be(1000);
    }

    [Fact]
    public void Formats_and_channel_counts_are_converted_per_spec_13()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        using var sink = hub.CreateSink("p");
        using var s32Mono = hub.CreateSource("p");
        using var float3 = hub.CreateSource("p");
        using var s24Stereo = hub.CreateSource("p");
        sink.Start(S16Stereo);
        s32Mono.Start(new(SampleFormat.S32Le, 48000, 1)).Should().BeNull();
        float3.Start(new(SampleFormat.FloatLe, 48000, 3)).Should().BeNull();
        s24Stereo.Start(new(SampleFormat.S24Le, 48000, 2)).Should().BeNull();
        sink.Write(Samples.S16(16384, -32768, 1, -1));

        var b = new byte[8];
        s32Mono.Read(b, 0);
        Samples.ToI32(b).Should().Equal(16384 << 16, 1 << 16); // left-justified; channel 1 has nowhere to go

        b = new byte[24];
        float3.Read(b, 0);
        Samples.ToF32(b).Should().Equal(0.5f, -1f, 0f, 1f / 32768, -1f / 32768, 0f); // x32 / 2^31; missing channel 0

        b = new byte[16];
        s24Stereo.Read(b, 0);
        Samples.ToI32(b).Should().Equal(16384 << 8, -32768 << 8, 1 << 8, -1 << 8);
    }

    [Fact]
    public void Float_to_integer_through_the_bus_clamps_and_rounds()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        using var sink = hub.CreateSink("p");
        using var source = hub.CreateSource("p");
        var f = new AudioFormat(SampleFormat.FloatLe, 44100, 1);
        sink.Start(f);
        source.Start(new(SampleFormat.S16Le, 44100, 1));
        sink.Write(Samples.F32(1f, -1f, 2f, 0.5f));
        var b = new byte[8];
        source.Read(b, 0);
        Samples.ToS16(b).Should().Equal(32767, -32768, 32767, 16384);
    }

    [Fact]
    public void Capture_start_against_a_running_playback_at_another_rate_is_refused()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        using var sink = hub.CreateSink("playback0");
        using var source = hub.CreateSource("playback0");
        sink.Start(S16Stereo with { Rate = 44100 });
        string? error = source.Start(S16Stereo);
        error.Should().Contain("playback0").And.Contain("44100").And.Contain("48000");
        source.Invoking(s => s.Read(new byte[4], 0)).Should().Throw<InvalidOperationException>();
        sink.Write(Counter(1, 10));
        source.Start(S16Stereo with { Rate = 44100, Format = SampleFormat.S32Le }).Should().BeNull("same rate, other format");
    }

    [Fact]
    public void Capture_started_before_playback_reads_zeros_until_data_comes()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        using var source = hub.CreateSource("p");
        source.Start(S16Stereo).Should().BeNull();
        Read(source, S16Stereo, 10).Should().OnlyContain(b => b == 0);
        using var sink = hub.CreateSink("p");
        sink.Start(S16Stereo);
        sink.Write(Counter(1, 10));
        Read(source, S16Stereo, 10).Should().Equal(Counter(1, 10));
        sink.Stop();
        sink.Write(Counter(11, 10));
        Read(source, S16Stereo, 10).Should().OnlyContain(b => b == 0, "a stopped playback side sends nothing");
    }

    [Fact]
    public void Playback_restarting_at_another_rate_delivers_nothing_to_a_running_reader()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        using var sink = hub.CreateSink("p");
        using var source = hub.CreateSource("p");
        source.Start(S16Stereo);
        sink.Start(S16Stereo with { Rate = 96000 });
        sink.Write(Counter(1, 10));
        source.RateMismatchFrames.Should().Be(10);
        source.BufferedFrames.Should().Be(0);
    }

    [Fact]
    public void Frames_buffered_before_the_playback_stops_are_still_read()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        using var sink = hub.CreateSink("p");
        using var source = hub.CreateSource("p");
        sink.Start(S16Stereo);
        source.Start(S16Stereo);
        sink.Write(Counter(1, 10));
        sink.Stop();
        Read(source, S16Stereo, 10).Should().Equal(Counter(1, 10));
    }

    [Fact]
    public void One_live_sink_per_playback_stream()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        var sink = hub.CreateSink("p");
        hub.Invoking(h => h.CreateSink("p")).Should().Throw<InvalidOperationException>().WithMessage("*p already has*");
        hub.CreateSink("q").Dispose();
        sink.Dispose();
        using var again = hub.CreateSink("p");
        again.PlaybackStream.Should().Be("p");
    }

    [Fact]
    public void Concurrent_playback_and_capture_lose_only_what_is_counted()
    {
        var hub = new LoopbackHub(TimeSpan.FromMilliseconds(5), jitterBuffer: TimeSpan.Zero);
        var format = new AudioFormat(SampleFormat.S32Le, 48000, 1);
        using var sink = hub.CreateSink("p");
        using var source = hub.CreateSource("p");
        sink.Start(format);
        source.Start(format);
        const int Total = 400_000;
        var writer = new Thread(() =>
        {
            for (int i = 1; i <= Total; i += 50)
            {
                sink.Write(Samples.I32([.. Enumerable.Range(i, 50)]));
            }
        });
        writer.Start();
        var seen = new List<int>();
        var buf = new byte[37 * 4];
        while (writer.IsAlive || source.BufferedFrames > 0)
        {
            source.Read(buf, 0);
            seen.AddRange(Samples.ToI32(buf).Where(x => x != 0));
        }

        writer.Join();
        seen.Should().BeInAscendingOrder();
        seen.Distinct().Count().Should().Be(seen.Count);
        (seen.Count + source.OverflowFrames).Should().Be(Total, "every frame was either read or counted as dropped");
    }
}
