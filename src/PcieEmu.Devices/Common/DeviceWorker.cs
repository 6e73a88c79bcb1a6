using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using PcieEmu.Pci.Tracing;

namespace PcieEmu.Devices.Common;

/// <summary>
/// A device's own thread for work that must not run on the register-access path (DMA, long computations).
/// Register side effects only enqueue; the worker runs jobs in order. A job must not hold the function lock
/// while it does DMA.
/// </summary>
public sealed partial class DeviceWorker : IDisposable
{
    private readonly BlockingCollection<Action> _jobs = new(new ConcurrentQueue<Action>());
    private readonly Thread? _thread;
    private readonly ILogger _logger;
    private readonly Func<FunctionTrace?> _trace;

    /// <param name="trace">The device's trace, if any, read at each job (a trace is attached after construction).</param>
    /// <param name="external">No thread: the host runs jobs with <see cref="RunNext"/> (trace replay).</param>
    public DeviceWorker(string name, ILogger logger, Func<FunctionTrace?>? trace = null, bool external = false)
    {
        _logger = logger;
        _trace = trace ?? (static () => null);
        if (!external)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = name };
            _thread.Start();
        }
    }

    /// <summary>Queues a job. After (or during) <see cref="Dispose"/> the job is dropped: the device is gone.</summary>
    public void Post(Action job)
    {
        try
        {
            _jobs.Add(job);
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            // Adding completed (disposing) or the queue is disposed: a late register write must not throw.
        }
    }

    /// <summary>External scheduling: runs the oldest queued job (as a trace unit); false when none is queued.</summary>
    public bool RunNext()
    {
        if (_thread is not null)
        {
            throw new InvalidOperationException("the worker runs its own thread");
        }

        if (!_jobs.TryTake(out var job))
        {
            return false;
        }

        RunJob(job);
        return true;
    }

    private void RunJob(Action job)
    {
        using var unit = _trace() is { } t ? t.Begin(TraceEventKind.WorkerJob) : default;
        job();
    }

    private void Run()
    {
        foreach (var job in _jobs.GetConsumingEnumerable())
        {
            try
            {
                RunJob(job);
            }
            catch (Exception e)
            {
                // A device bug must not take the emulator down; the evidence goes to the log.
                LogJobFailed(_logger, e, _thread?.Name ?? "worker");
            }
        }
    }

    public void Dispose()
    {
        _jobs.CompleteAdding();
        if (_thread is null || _thread.Join(TimeSpan.FromSeconds(5)))
        {
            // Only once the thread is gone: disposing under a running consumer would crash the process.
            _jobs.Dispose();
        }
    }

    [LoggerMessage(EventId = 3000, Level = LogLevel.Error, Message = "Device job on {Worker} failed")]
    private static partial void LogJobFailed(ILogger logger, Exception exception, string worker);
}
