using PcieEmu.Pci.Logging;

namespace PcieEmu.Pci.Tests;

/// <summary>Logging/RateLimitedLog.cs: the first event, then at most one line per interval, counting what was held back.</summary>
public class RateLimitedLogTests
{
    [Fact]
    public void The_first_event_is_logged_and_the_rest_of_the_interval_is_held_back()
    {
        var time = new ManualTime();
        var log = new RateLimitedLog(TimeSpan.FromSeconds(10), time);

        log.ShouldLog(out long first).Should().BeTrue();
        first.Should().Be(0, "nothing was held back before the first event");
        int lines = 0;
        for (int i = 0; i < 999; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(5));
            lines += log.ShouldLog(out _) ? 1 : 0;
        }

        lines.Should().Be(0, "999 events within 5 s of the first");
        log.Total.Should().Be(1000);
        log.TakeHeldBack().Should().Be(999);
        log.TakeHeldBack().Should().Be(0, "taking resets the count");
    }

    [Fact]
    public void After_the_interval_one_line_reports_what_was_held_back()
    {
        var time = new ManualTime();
        var log = new RateLimitedLog(TimeSpan.FromSeconds(10), time);
        log.ShouldLog(out _).Should().BeTrue();
        for (int i = 0; i < 41; i++)
        {
            log.ShouldLog(out _).Should().BeFalse();
        }

        time.Advance(TimeSpan.FromSeconds(10));
        log.ShouldLog(out long heldBack).Should().BeTrue("the interval has passed");
        heldBack.Should().Be(41);
        log.ShouldLog(out _).Should().BeFalse("a new interval started with that line");
        time.Advance(TimeSpan.FromSeconds(9.9));
        log.ShouldLog(out _).Should().BeFalse();
    }

    [Fact]
    public void A_steady_stream_yields_one_line_per_interval()
    {
        var time = new ManualTime();
        var log = new RateLimitedLog(TimeSpan.FromSeconds(1), time);
        int lines = 0;
        for (int i = 0; i < 100_000; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1)); // 100 s of events at 1 kHz
            lines += log.ShouldLog(out _) ? 1 : 0;
        }

        lines.Should().Be(100);
    }

    [Fact]
    public void Events_on_many_threads_are_all_counted()
    {
        var log = new RateLimitedLog(TimeSpan.FromHours(1), new ManualTime());
        int lines = 0;
        Parallel.For(0, 8, _ =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                if (log.ShouldLog(out _))
                {
                    Interlocked.Increment(ref lines);
                }
            }
        });

        lines.Should().Be(1);
        log.Total.Should().Be(80_000);
        log.TakeHeldBack().Should().Be(79_999);
    }

    /// <summary>A clock that moves only when told to.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
