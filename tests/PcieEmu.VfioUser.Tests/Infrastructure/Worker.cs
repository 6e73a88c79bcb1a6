namespace PcieEmu.VfioUser.Tests.Infrastructure;

/// <summary>A device worker thread (a real thread, as device engines use) whose result is awaited with a bound.</summary>
internal sealed class Worker<T>
{
    private readonly Thread _thread;
    private T? _result;
    private Exception? _error;

    private Worker(Func<T> body)
    {
        _thread = new Thread(() =>
        {
            try
            {
                _result = body();
            }
            catch (Exception e)
            {
                _error = e;
            }
        })
        { IsBackground = true, Name = "device-worker" };
        _thread.Start();
    }

    public bool IsCompleted => !_thread.IsAlive;

    public static Worker<T> Start(Func<T> body) => new(body);

    /// <summary>The result, once the worker finished within <paramref name="timeout"/> (default: the harness bound).</summary>
    public T Wait(TimeSpan? timeout = null)
    {
        if (!_thread.Join(timeout ?? ServerHarness.Bound))
        {
            throw new TimeoutException("the device worker did not finish in time");
        }

        return _error is null ? _result! : throw new InvalidOperationException("the device worker threw", _error);
    }
}
