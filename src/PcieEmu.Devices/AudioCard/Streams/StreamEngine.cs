using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Common;
using PcieEmu.Interop;
using PcieEmu.Pci.Tracing;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>
/// Runs a card's streams on its clock. On the real clock a dedicated thread wakes at every stream's next IOC
/// boundary and at least every <see cref="Tick"/> while streams run (spec §11.1: frames move within about a
/// millisecond of their due time). On a manual clock nothing runs by itself: <see cref="AdvanceTo"/> steps time
/// through the same deadlines deterministically (unit tests, trace replay).
/// </summary>
internal sealed partial class StreamEngine : IDisposable
{
    public static readonly long Tick = 1_000_000;

    private readonly IDeviceClock _clock;
    private readonly Func<IReadOnlyList<IPumped>> _streams;
    private readonly ILogger _logger;
    private readonly Func<FunctionTrace?> _trace;
    private readonly ConcurrentQueue<Action> _jobs = new();
    private readonly PreciseWaiter _wake = new();
    private readonly Thread? _thread;
    private volatile bool _stopping;

    public StreamEngine(IDeviceClock clock, Func<IReadOnlyList<IPumped>> streams, bool manual, ILogger logger, Func<FunctionTrace?>? trace = null)
    {
        _clock = clock;
        _trace = trace ?? (static () => null);
        _streams = streams;
        _logger = logger;
        if (!manual)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "pcieemu-audio-streams", Priority = ThreadPriority.AboveNormal };
        }
    }

    /// <summary>
    /// Starts the real-clock thread. Separate from construction because the streams it pumps need their card
    /// fully built (its PCI function's lock) before the first pump.
    /// </summary>
    public void Start() => _thread?.Start();

    /// <summary>What the engine drives: a stream's next deadline and its pump.</summary>
    internal interface IPumped
    {
        long NextDeadline();

        void Pump(long now);
    }

    /// <summary>Runs <paramref name="job"/> on the engine's thread (or at the next manual step).</summary>
    public void Post(Action job)
    {
        _jobs.Enqueue(job);
        Wake();
    }

    public void Wake() => _wake.Wake();

    /// <summary>Manual clock only: steps time to <paramref name="target"/> through every deadline on the way.</summary>
    public void AdvanceTo(ManualDeviceClock clock, long target)
    {
        RunJobs();
        PumpAll(clock.NowNanoseconds);
        RunJobs();
        while (clock.NowNanoseconds < target)
        {
            long now = clock.NowNanoseconds;
            long next = Math.Clamp(NextDeadline(now), now + 1, target); // always progress, never past the target
            clock.Set(next);
            PumpAll(next);
            RunJobs();
        }
    }

    /// <summary>
    /// One step at one instant: queued jobs, then every stream's pump. With a trace the step is one unit, recorded
    /// only if it did something (idle steps change nothing). The real-clock thread loops over this; replay calls it
    /// at each recorded step's time.
    /// </summary>
    public void Step()
    {
        var trace = _trace();
        using var unit = trace is not null ? trace.BeginDeferred(TraceEventKind.EngineStep) : default;
        long now = unit.IsUnit ? trace!.UnitTime : _clock.NowNanoseconds;
        if (RunJobs() > 0)
        {
            trace?.MarkSignificant();
        }

        PumpAll(now);
    }

    private long NextDeadline(long now)
    {
        long next = long.MaxValue;
        bool any = false;
        foreach (var s in _streams())
        {
            long d = s.NextDeadline();
            if (d != long.MaxValue)
            {
                any = true;
                next = Math.Min(next, d);
            }
        }

        return any ? Math.Min(next, now + Tick) : long.MaxValue;
    }

    private void PumpAll(long now)
    {
        foreach (var s in _streams())
        {
            s.Pump(now);
        }
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
            catch (Exception e) when (e is not TraceDivergenceException)
            {
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
                // A bug must not stop every stream for good; it is logged and the loop goes on.
                LogJobFailed(_logger, e);
                Thread.Sleep(1);
            }
        }
    }

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

    [LoggerMessage(EventId = 3210, Level = LogLevel.Error, Message = "Stream engine job failed")]
    private static partial void LogJobFailed(ILogger logger, Exception exception);
}

/// <summary>What a stream did, for tests, benchmarks and the demo table.</summary>
public sealed class StreamStatistics
{
    private const int LatenessSamples = 1 << 16;
    private readonly long[] _lateness = new long[LatenessSamples];
    private long _latenessCount;

    public long Runs { get; internal set; }

    /// <summary>Frames the stream advanced over, all runs (including frames lost to an xrun).</summary>
    public long FramesMoved { get; internal set; }

    public long Periods { get; internal set; }

    public long Xruns { get; internal set; }

    public long LostFrames { get; internal set; }

    /// <summary>Interrupt lateness samples (ns after the boundary's due time), most recent 65536.</summary>
    public IReadOnlyList<long> IocLateness => IocLatenessSince(0);

    /// <summary>How many lateness samples were ever noted (a mark for <see cref="IocLatenessSince"/>).</summary>
    public long IocSamples
    {
        get
        {
            lock (_lateness)
            {
                return _latenessCount;
            }
        }
    }

    /// <summary>The samples noted after the first <paramref name="mark"/> (of those still kept, the most recent 65536), oldest first.</summary>
    public long[] IocLatenessSince(long mark)
    {
        lock (_lateness)
        {
            long from = Math.Max(Math.Max(0, mark), _latenessCount - LatenessSamples);
            var result = new long[Math.Max(0, _latenessCount - from)];
            for (long i = from; i < _latenessCount; i++)
            {
                result[i - from] = _lateness[i % LatenessSamples];
            }

            return result;
        }
    }

    internal void NoteIocLateness(long nanoseconds)
    {
        lock (_lateness)
        {
            _lateness[_latenessCount % LatenessSamples] = nanoseconds;
            _latenessCount++;
        }
    }
}
