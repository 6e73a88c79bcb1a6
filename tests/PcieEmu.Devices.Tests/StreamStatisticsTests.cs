using PcieEmu.Devices.AudioCard.Streams;

namespace PcieEmu.Devices.Tests;

public sealed class StreamStatisticsTests
{
    [Fact]
    public void Lateness_since_a_mark_returns_the_newer_samples_oldest_first()
    {
        var s = new StreamStatistics();
        for (long i = 0; i < 10; i++)
        {
            s.NoteIocLateness(i);
        }

        long mark = s.IocSamples;
        s.NoteIocLateness(100);
        s.NoteIocLateness(200);

        mark.Should().Be(10);
        s.IocLatenessSince(mark).Should().Equal(100, 200);
        s.IocLatenessSince(0).Should().HaveCount(12);
        s.IocLatenessSince(99).Should().BeEmpty();
    }

    [Fact]
    public void Past_the_ring_only_the_most_recent_65536_are_kept_in_order()
    {
        var s = new StreamStatistics();
        for (long i = 0; i < 70_000; i++)
        {
            s.NoteIocLateness(i);
        }

        var all = s.IocLatenessSince(0);
        all.Should().HaveCount(65_536);
        all[0].Should().Be(70_000 - 65_536);
        all[^1].Should().Be(69_999);
        s.IocLatenessSince(69_990).Should().Equal(Enumerable.Range(69_990, 10).Select(i => (long)i));
    }
}
