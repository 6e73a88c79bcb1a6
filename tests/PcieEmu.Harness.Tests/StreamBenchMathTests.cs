using PcieEmu.Harness.Audio;
using PcieEmu.Harness.Processes;

namespace PcieEmu.Harness.Tests;

public sealed class StreamBenchMathTests
{
    [Fact]
    public void Percentiles_are_nearest_rank()
    {
        var p = Percentiles.Of([.. Enumerable.Range(1, 100).Select(i => (long)i).Reverse()]);
        p.Should().Be(new Percentiles(100, 50, 99, 100));
        Percentiles.Of([7]).Should().Be(new Percentiles(1, 7, 7, 7));
        Percentiles.Of([]).Should().Be(default(Percentiles));
    }

    [Fact]
    public void Thread_cpu_comes_from_utime_and_stime_even_with_spaces_in_the_name()
    {
        const string stat = "4242 (.NET TP Worker) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 1 0 100 0 0";
        ThreadCpu.TryParseTicks(stat, out long ticks).Should().BeTrue();
        ticks.Should().Be(175);
        ThreadCpu.TryParseTicks("garbage", out _).Should().BeFalse();
    }

    [Fact]
    public void This_process_has_threads_with_cpu_time()
    {
        var sample = ThreadCpu.Sample();
        sample.Should().NotBeEmpty();
        sample.Values.Sum(v => v.Seconds).Should().BeGreaterThan(0, "the test host has run code");
    }

    [Fact]
    public void Cpu_between_samples_is_per_thread_name_and_never_negative()
    {
        var before = new Dictionary<int, (string, double)> { [1] = ("a", 1.0), [2] = ("b", 5.0) };
        var after = new Dictionary<int, (string, double)> { [1] = ("a", 1.5), [2] = ("b", 5.0), [3] = ("a", 0.25) };
        var d = ThreadCpu.Between(before, after);
        d["a"].Should().Be(0.75, "thread 3 was born in between and counts from zero");
        d["b"].Should().Be(0);
    }
}
