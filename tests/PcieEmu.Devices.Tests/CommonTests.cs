using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Devices.Common;

namespace PcieEmu.Devices.Tests;

/// <summary>The device layer's shared pieces: the violation record, the worker thread and FNV-1a.</summary>
public sealed class CommonTests
{
    // ------------------------------------------------------------------ DriverRuleViolations

    [Fact]
    public void Violations_start_empty()
    {
        var v = new DriverRuleViolations();
        v.Count.Should().Be(0);
        v.Snapshot().Should().BeEmpty();
    }

    [Fact]
    public void Violations_keep_rule_detail_and_time_in_order()
    {
        var v = new DriverRuleViolations();
        var before = DateTimeOffset.UtcNow;

        v.Record("RuleA", "first");
        v.Record("RuleB", "second");

        v.Count.Should().Be(2);
        var items = v.Snapshot();
        items.Select(i => (i.Rule, i.Detail)).Should().Equal(("RuleA", "first"), ("RuleB", "second"));
        items.Should().OnlyContain(i => i.Time >= before && i.Time <= DateTimeOffset.UtcNow);
    }

    [Fact]
    public void Violations_keep_the_first_thousand_and_count_all()
    {
        var v = new DriverRuleViolations();

        for (int i = 0; i < 1500; i++)
        {
            v.Record("R", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        v.Count.Should().Be(1500);
        var kept = v.Snapshot();
        kept.Should().HaveCount(1000);
        kept[0].Detail.Should().Be("0");
        kept[^1].Detail.Should().Be("999");
    }

    [Fact]
    public void Violation_snapshots_are_copies()
    {
        var v = new DriverRuleViolations();
        v.Record("R", "1");
        var snapshot = v.Snapshot();

        v.Record("R", "2");

        snapshot.Should().HaveCount(1);
        v.Snapshot().Should().HaveCount(2);
    }

    [Fact]
    public void Every_recorded_violation_is_announced()
    {
        var v = new DriverRuleViolations();
        var seen = new List<string>();
        v.Recorded += x => seen.Add(x.Rule);

        for (int i = 0; i < 1002; i++)
        {
            v.Record($"R{i}", "d");
        }

        seen.Should().HaveCount(1002, "the bound limits what is kept, not what is announced");
        seen[^1].Should().Be("R1001");
    }

    [Fact]
    public void Violations_from_many_threads_are_all_counted()
    {
        var v = new DriverRuleViolations();

        Parallel.For(0, 8, t =>
        {
            for (int i = 0; i < 500; i++)
            {
                v.Record($"T{t}", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        });

        v.Count.Should().Be(4000);
        v.Snapshot().Should().HaveCount(1000);
    }

    // ------------------------------------------------------------------ DeviceWorker

    [Fact]
    public void Worker_runs_jobs_in_order_on_its_own_named_thread()
    {
        using var worker = new DeviceWorker("test-worker", NullLogger.Instance);
        var order = new ConcurrentQueue<int>();
        var threads = new ConcurrentBag<(int Id, string? Name)>();
        using var done = new ManualResetEventSlim();

        for (int i = 0; i < 200; i++)
        {
            int n = i;
            worker.Post(() =>
            {
                order.Enqueue(n);
                threads.Add((Environment.CurrentManagedThreadId, Thread.CurrentThread.Name));
            });
        }

        worker.Post(done.Set);

        done.Wait(Poll.Timeout).Should().BeTrue();
        order.Should().Equal(Enumerable.Range(0, 200));
        threads.Select(t => t.Id).Distinct().Should().ContainSingle().Which.Should().NotBe(Environment.CurrentManagedThreadId);
        threads.First().Name.Should().Be("test-worker");
    }

    [Fact]
    public void Worker_survives_a_throwing_job_and_logs_it()
    {
        var log = new CapturingLogger();
        using var worker = new DeviceWorker("test-worker", log);
        var ran = new ConcurrentQueue<string>();
        using var done = new ManualResetEventSlim();

        worker.Post(() => ran.Enqueue("before"));
        worker.Post(() => throw new InvalidOperationException("device bug"));
        worker.Post(() => ran.Enqueue("after"));
        worker.Post(done.Set);

        done.Wait(Poll.Timeout).Should().BeTrue("the worker keeps running after a job throws");
        ran.Should().Equal("before", "after");
        log.Entries.Should().ContainSingle(e => e.Level == LogLevel.Error)
            .Which.Exception.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Be("device bug");
    }

    [Fact]
    public void Worker_does_not_run_a_job_on_the_posting_thread()
    {
        using var worker = new DeviceWorker("test-worker", NullLogger.Instance);
        using var gate = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();
        int finished = 0;

        worker.Post(() =>
        {
            started.Set();
            gate.Wait(Poll.Timeout);
            Interlocked.Exchange(ref finished, 1);
        });

        started.Wait(Poll.Timeout).Should().BeTrue();
        Volatile.Read(ref finished).Should().Be(0, "Post returned while the job was still running");
        gate.Set();
        Poll.Until(() => Volatile.Read(ref finished) == 1).Should().BeTrue();
    }

    [Fact]
    public void Worker_dispose_runs_queued_jobs_and_later_posts_are_ignored()
    {
        var worker = new DeviceWorker("test-worker", NullLogger.Instance);
        int ran = 0;
        for (int i = 0; i < 10; i++)
        {
            worker.Post(() => Interlocked.Increment(ref ran));
        }

        worker.Dispose();
        Volatile.Read(ref ran).Should().Be(10, "jobs posted before Dispose still run");

        var act = () => worker.Post(() => Interlocked.Increment(ref ran));
        act.Should().NotThrow("a late register write after the card is disposed must not crash the caller");
        Volatile.Read(ref ran).Should().Be(10);
    }

    // ------------------------------------------------------------------ FNV-1a

    [Theory]
    [InlineData("", 0x811C9DC5u)]
    [InlineData("a", 0xE40C292Cu)]
    [InlineData("foobar", 0xBF9CF968u)]
    public void Fnv1a_matches_the_published_test_vectors(string text, uint expected)
    {
        Fnv1a.Hash(Encoding.ASCII.GetBytes(text)).Should().Be(expected);
    }

    [Fact]
    public void Fnv1a_constants_are_the_32_bit_parameters()
    {
        Fnv1a.OffsetBasis.Should().Be(0x811C9DC5u);
        Fnv1a.Prime.Should().Be(0x01000193u);
    }

    [Fact]
    public void Fnv1a_append_continues_a_hash_across_chunks()
    {
        byte[] data = Reference.Noise(10_000, 11);
        uint whole = Fnv1a.Hash(data);

        uint h = Fnv1a.OffsetBasis;
        foreach (var chunk in data.Chunk(333))
        {
            h = Fnv1a.Append(h, chunk);
        }

        h.Should().Be(whole);
        whole.Should().Be(Reference.Fnv1a(data));
    }
}
