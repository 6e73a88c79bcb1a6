using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using PcieEmu.Interop;
using PcieEmu.Pci.Observation;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Pci.Scheduling;

/// <summary>How a function's scheduler runs.</summary>
public enum SchedulerMode
{
    /// <summary>Its own thread, on the host's monotonic time: wakes for posted jobs and at every work item's deadline.</summary>
    RealTime,

    /// <summary>No thread: time moves only through <see cref="DeviceScheduler.AdvanceTo"/> (deterministic tests).</summary>
    Manual,

    /// <summary>No thread: the host runs each step with <see cref="DeviceScheduler.Step"/> at the clock's time (trace replay).</summary>
    External,
}

/// <summary>What a scheduler runs at deadlines: a stream of a card, say.</summary>
public interface IScheduledWork
{
    /// <summary>Device time of the next event this item needs a step for, or long.MaxValue for none.</summary>
    long NextDeadline();

    /// <summary>Does everything due by <paramref name="now"/>. On the scheduler's thread, no function lock held.</summary>
    void Run(long now);
}

/// <summary>
/// The one scheduler of a function: one thread (in <see cref="SchedulerMode.RealTime"/>), one queue. Register side
/// effects never do slow work; they post a job or change state the work items act on, and wake the scheduler. A
/// step runs every queued job, then every work item, at one device-clock instant. When the function is observed, a
/// step is one unit (recorded only if it did something), so a replay runs the same steps at the same times.
/// <para>
/// Threads: <see cref="Post"/> and <see cref="Wake"/> from any thread. <see cref="Step"/> only in External mode,
/// <see cref="AdvanceTo"/> only in Manual mode, from the one thread that drives the device.
/// </para>
/// </summary>
public sealed partial class DeviceScheduler : IDisposable
{
    /// <summary>While any item has a deadline, the real-time thread also wakes at least this often (ns).</summary>
    public const long Tick = 1_000_000;

    /// <summary>The real-time thread's name (Linux keeps 15 characters: tools that report CPU per thread find it by this).</summary>
    public const string ThreadName = "pcieemu-sched";

    private readonly IDeviceClock _clock;
    private readonly ILogger _logger;
    private readonly Func<FunctionObservation?> _observation;
    private readonly ConcurrentQueue<Action> _jobs = new();
    private readonly PreciseWaiter _wake = new();
    private readonly Thread? _thread;
    private IScheduledWork[] _work = [];
    private volatile bool _stopping;
    private bool _started;

    internal DeviceScheduler(IDeviceClock clock, SchedulerMode mode, ILogger logger, Func<FunctionObservation?> observation)
    {
        if (mode == SchedulerMode.Manual && clock is not ManualDeviceClock)
        {
            throw new ArgumentException("a manual scheduler needs a ManualDeviceClock", nameof(clock));
        }

        if (mode == SchedulerMode.External && clock is not ManualDeviceClock)
        {
            throw new ArgumentException("an external scheduler needs a ManualDeviceClock (the host sets the time of each step)", nameof(clock));
        }

        Mode = mode;
        _clock = clock;
        _logger = logger;
        _observation = observation;
        if (mode == SchedulerMode.RealTime)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = ThreadName, Priority = ThreadPriority.AboveNormal };
        }
    }

    /// <summary>How this scheduler runs; fixed when the function is built (<see cref="PciFunctionBuilder.Timing"/>).</summary>
    public SchedulerMode Mode { get; }

    /// <summary>Adds work items, in order (their index is their number in the trace). Before <see cref="Start"/>.</summary>
    /// <exception cref="InvalidOperationException">The scheduler has started.</exception>
    public void Add(IScheduledWork work)
    {
        if (_started)
        {
            throw new InvalidOperationException("work items are added before the scheduler starts");
        }

        _work = [.. _work, work];
    }

    /// <summary>
    /// Starts the real-time thread. Separate from construction: the work items need their device fully built
    /// before the first step.
    /// </summary>
    public void Start()
    {
        if (!_started)
        {
            _started = true;
            _thread?.Start();
        }
    }

    /// <summary>Runs <paramref name="job"/> in the next step, on the scheduler's thread, after the jobs posted before it.</summary>
    public void Post(Action job)
    {
        if (_stopping)
        {
            return; // the device is being taken down: a late register write's job is dropped
        }

        _jobs.Enqueue(job);
        Wake();
    }

    /// <summary>Something changed that moves a deadline (a stream started): the next step comes at once.</summary>
    public void Wake() => _wake.Wake();

    /// <summary>
    /// One step at one instant: every queued job, then every work item. Observed, it is one unit (recorded only if it
    /// did something). External mode: the host calls it (replay); the real-time thread loops over it.
    /// </summary>
    public void Step()
    {
        var observation = _observation();
        using var unit = observation is not null ? observation.BeginDeferred(TraceEventKind.SchedulerStep) : default;
        long now = unit.IsUnit ? observation!.UnitTime : _clock.NowNanoseconds;
        if (RunJobs() > 0)
        {
            observation?.MarkSignificant();
        }

        var work = _work;
        for (int i = 0; i < work.Length; i++)
        {
            observation?.BeginWork(i);
            work[i].Run(now);
        }
    }

    /// <summary>
    /// Manual mode: moves the <see cref="ManualDeviceClock"/> to <paramref name="target"/> (ns) one step at a time,
    /// stopping at every work item's deadline (and at least every <see cref="Tick"/>), so a test sees what real time
    /// would have done. It always steps once at the current time first; a target not later than now does nothing more.
    /// Call it from the one thread that drives the device.
    /// </summary>
    /// <exception cref="InvalidOperationException">The scheduler is not in <see cref="SchedulerMode.Manual"/> mode.</exception>
    public void AdvanceTo(long target)
    {
        if (Mode != SchedulerMode.Manual)
        {
            throw new InvalidOperationException("only a manual scheduler is advanced by hand");
        }

        var clock = (ManualDeviceClock)_clock;
        Step();
        RunJobsStep();
        while (clock.NowNanoseconds < target)
        {
            long now = clock.NowNanoseconds;
            long next = Math.Clamp(NextDeadline(now), now + 1, target); // always progress, never past the target
            clock.Set(next);
            Step();
            RunJobsStep();
        }

        // Jobs a step queued (a stream's deferred start) run at the instant they were posted.
        void RunJobsStep()
        {
            if (!_jobs.IsEmpty)
            {
                Step();
            }
        }
    }

    /// <summary>The earliest deadline of any work item, and at least every <see cref="Tick"/> while any has one.</summary>
    private long NextDeadline(long now)
    {
        long next = long.MaxValue;
        foreach (var w in _work)
        {
            next = Math.Min(next, w.NextDeadline());
        }

        return next == long.MaxValue ? long.MaxValue : Math.Min(next, now + Tick);
    }

    private int RunJobs()
    {
        int ran = 0;
        while (_jobs.TryDequeue(out var job))
        {
            ran++;
            try
            {
                job();
            }
            catch (Exception e) when (e is not ObservationStoppedException)
            {
                // A device bug must not stop the device for good: logged, and the next job runs.
                LogJobFailed(_logger, e);
            }
        }

        return ran;
    }

    private void Run()
    {
        while (!_stopping)
        {
            try
            {
                Step();
                long next = NextDeadline(_clock.NowNanoseconds);
                if (!_jobs.IsEmpty)
                {
                    continue;
                }

                if (next == long.MaxValue)
                {
                    _wake.Wait(-1);
                    continue;
                }

                long wait = next - _clock.NowNanoseconds;
                if (wait > 0)
                {
                    // To the nanosecond (ppoll on CLOCK_MONOTONIC, the clock the device reads): never early, and
                    // not the up-to-a-millisecond late a WaitHandle timeout is.
                    _wake.Wait(wait);
                }
            }
            catch (Exception e)
            {
                // A bug in a work item must not stop every other one for good; logged, and the loop goes on.
                LogJobFailed(_logger, e);
                Thread.Sleep(1);
            }
        }
    }

    /// <summary>Stops the real-time thread (waiting up to 5 s for its step to end); later posts are dropped. The function disposes it.</summary>
    public void Dispose()
    {
        _stopping = true;
        _wake.Wake();
        if (_thread is { IsAlive: true })
        {
            _thread.Join(TimeSpan.FromSeconds(5));
        }

        _wake.Dispose();
    }

    [LoggerMessage(EventId = 2300, Level = LogLevel.Error, Message = "Scheduler job or work item failed")]
    private static partial void LogJobFailed(ILogger logger, Exception exception);
}
