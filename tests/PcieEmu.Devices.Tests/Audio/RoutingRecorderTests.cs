using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.Tests.Audio.Wav;

namespace PcieEmu.Devices.Tests.Audio.Routing;

public sealed class RoutingRecorderTests
{
    private static readonly AudioFormat S16Stereo = new(SampleFormat.S16Le, 48000, 2);
    private static readonly AudioFormat S32Mono = new(SampleFormat.S32Le, 44100, 1);

    [Fact]
    public void Runs_have_their_format_frame_count_and_bytes()
    {
        var r = new SampleRecorder();
        r.Runs.Should().BeEmpty();
        r.LastRun.Should().BeNull();
        r.BeginRun(S16Stereo);
        r.Append(Samples.S16(1, 2, 3, 4));
        r.Append(Samples.S16(5, 6));
        r.BeginRun(S32Mono);
        r.BeginRun(S16Stereo);
        r.Append(Samples.S16(7, 8));

        var runs = r.Runs;
        runs.Select(x => x.Format).Should().Equal(S16Stereo, S32Mono, S16Stereo);
        runs.Select(x => x.TotalFrames).Should().Equal(3, 0, 1);
        runs[0].Bytes.Should().Equal(Samples.S16(1, 2, 3, 4, 5, 6));
        runs[1].Bytes.Should().BeEmpty();
        runs[2].Bytes.Should().Equal(Samples.S16(7, 8));
        r.LastRun!.Bytes.Should().Equal(Samples.S16(7, 8));
        r.KeptBytes.Should().Be(16);
    }

    [Fact]
    public void Large_runs_across_many_chunks_come_back_intact()
    {
        var r = new SampleRecorder();
        r.BeginRun(S16Stereo);
        byte[] data = Samples.Random(S16Stereo, 1_500_000, 4); // 6 MB: many growing chunks
        var sizes = new[] { 4, 4096, 8188, 1 << 20, 12, 3 << 20 };
        int at = 0;
        for (int i = 0; at < data.Length; i++)
        {
            int n = Math.Min(sizes[i % sizes.Length], data.Length - at);
            r.Append(data.AsSpan(at, n));
            at += n;
        }

        r.LastRun!.Bytes.Should().Equal(data);
        r.LastRun.TotalFrames.Should().Be(1_500_000);
    }

    [Fact]
    public void The_cap_keeps_the_oldest_runs_and_counts_what_is_dropped()
    {
        var r = new SampleRecorder(capBytes: 100);
        r.BeginRun(S16Stereo);
        r.Append(new byte[60]);
        r.BeginRun(S32Mono);
        r.Append(Samples.I32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
        r.BeginRun(S16Stereo);
        r.Append(new byte[8]);

        var runs = r.Runs;
        runs[0].Bytes.Length.Should().Be(60);
        runs[1].Bytes.Should().Equal(Samples.I32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
        runs[1].TotalFrames.Should().Be(12);
        runs[1].DroppedFrames.Should().Be(2);
        runs[2].Bytes.Should().BeEmpty();
        runs[2].TotalFrames.Should().Be(2);
        r.KeptBytes.Should().Be(100);
        r.DroppedBytes.Should().Be(16);
    }

    [Fact]
    public void Runs_beyond_the_maximum_are_counted_not_listed()
    {
        var r = new SampleRecorder(maxRuns: 2);
        for (int i = 0; i < 5; i++)
        {
            r.BeginRun(S32Mono);
            r.Append(Samples.I32(i));
        }

        r.Runs.Should().HaveCount(2);
        r.Runs.Select(x => x.Bytes[0]).Should().Equal(0, 1);
        r.DroppedRuns.Should().Be(3);
        r.DroppedBytes.Should().Be(12);
    }

    [Fact]
    public void Snapshots_are_private_copies()
    {
        var r = new SampleRecorder();
        r.BeginRun(S32Mono);
        r.Append(Samples.I32(1));
        var first = r.Runs[0];
        first.Bytes[0] = 99;
        r.Append(Samples.I32(2));
        r.Runs[0].Bytes.Should().Equal(Samples.I32(1, 2));
        first.Bytes.Length.Should().Be(4);
    }

    [Fact]
    public void Append_before_begin_run_is_a_bug()
    {
        var r = new SampleRecorder();
        r.Invoking(x => x.Append(new byte[4])).Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Snapshots_taken_while_appending_are_consistent_prefixes()
    {
        var r = new SampleRecorder();
        r.BeginRun(S32Mono);
        const int Total = 300_000;
        var writer = new Thread(() =>
        {
            var one = new byte[4 * 100];
            for (int i = 0; i < Total; i += 100)
            {
                for (int j = 0; j < 100; j++)
                {
                    BitConverter.TryWriteBytes(one.AsSpan(4 * j), i + j);
                }

                r.Append(one);
            }
        });
        writer.Start();
        int snapshots = 0;
        while (writer.IsAlive || snapshots == 0)
        {
            var run = r.LastRun!;
            int[] values = Samples.ToI32(run.Bytes);
            run.TotalFrames.Should().Be(values.Length);
            for (int i = 0; i < values.Length; i += 997)
            {
                values[i].Should().Be(i);
            }

            if (values.Length > 0)
            {
                values[^1].Should().Be(values.Length - 1);
            }

            snapshots++;
        }

        writer.Join();
        Samples.ToI32(r.LastRun!.Bytes).Should().Equal(Enumerable.Range(0, Total));
    }
}
