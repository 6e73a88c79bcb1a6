using System.Runtime.InteropServices;

namespace PcieEmu.Cli;

/// <summary>
/// SIGTERM and SIGINT as a request to stop the running verb. The handlers are installed on first use and stay for
/// the rest of the process: a signal that lands after the verb has finished (a server that ended with its client
/// while its supervisor was already sending SIGTERM) is absorbed, so the process exits with the verb's own code
/// instead of 128 + the signal.
/// </summary>
internal static class StopSignals
{
    private static readonly Lock Gate = new();
    private static Action? _stop;
    private static PosixSignalRegistration? _term;
    private static PosixSignalRegistration? _interrupt;

    /// <summary>Calls <paramref name="stop"/> on SIGTERM/SIGINT until the returned handle is disposed.</summary>
    public static IDisposable OnStop(Action stop)
    {
        lock (Gate)
        {
            _term ??= PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
            _interrupt ??= PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
            _stop = stop;
        }

        return new Subscription(stop);
    }

    private static void Handle(PosixSignalContext context)
    {
        context.Cancel = true; // never the runtime's default (exit 128+n); the verb decides how it ends
        Action? stop;
        lock (Gate)
        {
            stop = _stop;
        }

        stop?.Invoke();
    }

    private sealed class Subscription(Action stop) : IDisposable
    {
        public void Dispose()
        {
            lock (Gate)
            {
                if (_stop == stop)
                {
                    _stop = null;
                }
            }
        }
    }
}
