using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace PcieEmu.Devices.Common;

/// <summary>
/// A device's own thread for work that must not run on the register-access path (DMA, long computations).
/// Register side effects only enqueue; the worker runs jobs in order. A job must not hold the function lock
/// while it does DMA.
/// </summary>
public sealed partial class DeviceWorker : IDisposable
{
    private readonly BlockingCollection<Action> _jobs = new(new ConcurrentQueue<Action>());
    private readonly Thread _thread;
    private readonly ILogger _logger;

    public DeviceWorker(string name, ILogger logger)
    {
        _logger = logger;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
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

    private void Run()
    {
        foreach (var job in _jobs.GetConsumingEnumerable())
        {
            try
            {
                job();
            }
            catch (Exception e)
            {
                // A device bug must not take the emulator down; the evidence goes to the log.
                LogJobFailed(_logger, e, _thread.Name ?? "worker");
            }
        }
    }

    public void Dispose()
    {
        _jobs.CompleteAdding();
        if (_thread.Join(TimeSpan.FromSeconds(5)))
        {
            // Only once the thread is gone: disposing under a running consumer would crash the process.
            _jobs.Dispose();
        }
    }

    [LoggerMessage(EventId = 3000, Level = LogLevel.Error, Message = "Device job on {Worker} failed")]
    private static partial void LogJobFailed(ILogger logger, Exception exception, string worker);
}
