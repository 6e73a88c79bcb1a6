using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using PcieEmu.Pci.Scheduling;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Pci.Tests;

/// <summary>
/// The function's one scheduler (src/THREADS.md): one thread and one queue in real time, deadlines of
/// its work items, and the manual and external modes tests and replay drive by hand.
/// </summary>
public sealed class DeviceSchedulerTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public void Jobs_run_in_order_on_the_functions_own_named_thread()
    {
        using var f = Functions.Minimal("sched").Build();
        f.Scheduler.Start();
        var order = new ConcurrentQueue<int>();
        var threads = new ConcurrentBag<(int Id, string? Name)>();
        using var done = new ManualResetEventSlim();
        for (int i = 0; i < 200; i++)
        {
            int n = i;
            f.Scheduler.Post(() =>
            {
                order.Enqueue(n);
                threads.Add((Environment.CurrentManagedThreadId, Thread.CurrentThread.Name));
            });
        }

        f.Scheduler.Post(done.Set);

        done.Wait(Bound).Should().BeTrue();
        order.Should().Equal(Enumerable.Range(0, 200));
        threads.Select(t => t.Id).Distinct().Should().ContainSingle().Which.Should().NotBe(Environment.CurrentManagedThreadId);
        threads.First().Name.Should().Be(DeviceScheduler.ThreadName);
    }

    [Fact]
    public void A_throwing_job_is_logged_and_the_next_one_runs()
    {
        using var logs = new CapturingLoggers();
        using var f = Functions.Minimal("sched").Logging(logs).Build();
        f.Scheduler.Start();
        var ran = new ConcurrentQueue<string>();
        using var done = new ManualResetEventSlim();

        f.Scheduler.Post(() => ran.Enqueue("before"));
        f.Scheduler.Post(() => throw new InvalidOperationException("device bug"));
        f.Scheduler.Post(() => ran.Enqueue("after"));
        f.Scheduler.Post(done.Set);

        done.Wait(Bound).Should().BeTrue("the scheduler keeps running after a job throws");
        ran.Should().Equal("before", "after");
        logs.Errors.Should().ContainSingle().Which.Message.Should().Be("device bug");
    }

    [Fact]
    public void Post_returns_before_the_job_runs_and_posts_after_dispose_are_dropped()
    {
        var f = Functions.Minimal("sched").Build();
        f.Scheduler.Start();
        using var gate = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();
        int finished = 0;
        f.Scheduler.Post(() =>
        {
            started.Set();
            gate.Wait(Bound);
            Interlocked.Exchange(ref finished, 1);
        });

        started.Wait(Bound).Should().BeTrue();
        Volatile.Read(ref finished).Should().Be(0, "Post returned while the job was still running");
        gate.Set();
        f.Dispose();
        Volatile.Read(ref finished).Should().Be(1, "dispose waits for the running job");
        int late = 0;
        f.Scheduler.Post(() => late = 1);
        late.Should().Be(0);
    }

    [Fact]
    public void Manual_time_runs_each_work_item_at_its_deadlines_and_no_later_than_a_tick()
    {
        var clock = new ManualDeviceClock(1_000);
        using var f = Functions.Minimal("sched").Timing(clock, SchedulerMode.Manual).Build();
        var work = new Periodic(clock, period: 2_500_000);
        f.Scheduler.Add(work);
        f.Scheduler.Start();

        f.Scheduler.AdvanceTo(1_000 + 10_000_000);

        work.Runs.Should().Contain([1_000, 1_000 + 2_500_000, 1_000 + 5_000_000, 1_000 + 7_500_000, 1_000 + 10_000_000]);
        work.Runs.Zip(work.Runs.Skip(1)).Should().OnlyContain(p => p.Second - p.First <= DeviceScheduler.Tick, "a running item is looked at least every tick");
        clock.NowNanoseconds.Should().Be(1_000 + 10_000_000);
    }

    [Fact]
    public void An_external_step_runs_the_queued_jobs_then_every_work_item_at_the_clocks_time()
    {
        var clock = new ManualDeviceClock(42);
        using var f = Functions.Minimal("sched").Timing(clock, SchedulerMode.External).Build();
        var work = new Periodic(clock, period: long.MaxValue);
        var order = new List<string>();
        work.OnRun = now => order.Add($"work@{now}");
        f.Scheduler.Add(work);
        f.Scheduler.Start();
        f.Scheduler.Post(() => order.Add("job"));

        order.Should().BeEmpty("nothing runs by itself");
        f.Scheduler.Step();

        order.Should().Equal("job", "work@42");
        var advance = () => f.Scheduler.AdvanceTo(100);
        advance.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Manual_and_external_modes_need_a_manual_clock()
    {
        var build = () => Functions.Minimal("sched").Timing(new MonotonicDeviceClock(), SchedulerMode.Manual).Build();
        build.Should().Throw<ArgumentException>();
    }

    /// <summary>A work item due every <c>period</c> from its first run.</summary>
    private sealed class Periodic(ManualDeviceClock clock, long period) : IScheduledWork
    {
        private long _next = clock.NowNanoseconds;

        public List<long> Runs { get; } = [];

        public Action<long>? OnRun { get; set; }

        public long NextDeadline() => period == long.MaxValue ? long.MaxValue : _next;

        public void Run(long now)
        {
            Runs.Add(now);
            OnRun?.Invoke(now);
            while (period != long.MaxValue && _next <= now)
            {
                _next += period;
            }
        }
    }

    private sealed class CapturingLoggers : ILoggerFactory
    {
        private readonly ConcurrentQueue<Exception> _errors = new();

        public IEnumerable<Exception> Errors => _errors;

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggers owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (logLevel >= LogLevel.Error && exception is not null)
                {
                    owner._errors.Enqueue(exception);
                }
            }
        }
    }
}
