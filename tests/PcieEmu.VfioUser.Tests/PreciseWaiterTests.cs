using System.Diagnostics;
using PcieEmu.Interop;

namespace PcieEmu.VfioUser.Tests;

/// <summary>The device engines' wait (Interop/PreciseWaiter.cs): never returns before its timeout, and a wake ends it.</summary>
public sealed class PreciseWaiterTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(250_000)]
    [InlineData(1_500_000)]
    public void A_timed_out_wait_never_returns_before_its_timeout(long nanoseconds)
    {
        using var waiter = new PreciseWaiter();
        for (int i = 0; i < 20; i++)
        {
            long start = Stopwatch.GetTimestamp();

            bool woken = waiter.Wait(nanoseconds);

            long elapsed = (long)Stopwatch.GetElapsedTime(start).TotalNanoseconds;
            woken.Should().BeFalse();
            elapsed.Should().BeGreaterThanOrEqualTo(nanoseconds, "frames must never move before they are due");
        }
    }

    [Fact]
    public void A_wake_before_the_wait_ends_it_at_once_and_is_consumed()
    {
        using var waiter = new PreciseWaiter();
        waiter.Wake();
        waiter.Wake();

        waiter.Wait(-1).Should().BeTrue("the pending wake ends even an unbounded wait");
        waiter.Wait(1000).Should().BeFalse("both wakes were consumed by one wait");
    }

    [Fact]
    public async Task A_wake_from_another_thread_ends_an_unbounded_wait()
    {
        using var waiter = new PreciseWaiter();
        var waiting = Task.Run(() => waiter.Wait(-1));
        await Task.Delay(20);

        waiter.Wake();

        (await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Should().BeTrue();
    }

    [Fact]
    public void A_wake_after_dispose_is_harmless()
    {
        var waiter = new PreciseWaiter();
        waiter.Dispose();

        var act = waiter.Wake;

        act.Should().NotThrow();
    }
}
