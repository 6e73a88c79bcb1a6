using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// With a KVM irqchip, QEMU hands over an INTx "resample" eventfd (SET_IRQS UNMASK|EVENTFD): KVM signals it
/// when the guest EOIs the line. Signalled ⇒ unmask INTx, which re-signals if the device still asserts.
/// A small thread polls the fd; it exists only once such an fd arrives.
/// </summary>
internal sealed partial class IntxResampleWatcher : IDisposable
{
    private readonly InterruptController _interrupts;
    private readonly ILogger _logger;
    private readonly SafeFileHandle _wake = EventFd.Create();
    private readonly object _sync = new();
    private readonly Thread _thread;
    private SafeFileHandle? _resample;
    private volatile bool _stopping;

    public IntxResampleWatcher(InterruptController interrupts, ILogger logger)
    {
        _interrupts = interrupts;
        _logger = logger;
        _thread = new Thread(Run) { IsBackground = true, Name = "intx-resample" };
        _thread.Start();
    }

    public long Resamples { get; private set; }

    /// <summary>Replaces the watched fd (null removes it); takes ownership.</summary>
    public void SetFd(SafeFileHandle? fd)
    {
        lock (_sync)
        {
            _resample?.Dispose();
            _resample = fd;
        }

        EventFd.Signal(_wake);
    }

    private void Run()
    {
        while (!_stopping)
        {
            SafeFileHandle? watched;
            lock (_sync)
            {
                watched = _resample;
            }

            try
            {
                int r = EventFd.WaitAny(_wake, watched is { IsClosed: false } ? watched : null, out bool woken, out bool resampled);
                if (r < 0 && r != -Errno.EINTR)
                {
                    LogPollFailed(_logger, Errno.Name(-r));
                    return;
                }

                if (woken)
                {
                    EventFd.Drain(_wake);
                }

                if (resampled && EventFd.Drain(watched!) != 0)
                {
                    Resamples++;
                    _interrupts.SetMasked(IrqIndex.Intx, 0, 1, masked: false);
                }
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        EventFd.Signal(_wake);
        _thread.Join(TimeSpan.FromSeconds(2));
        lock (_sync)
        {
            _resample?.Dispose();
            _resample = null;
        }

        _wake.Dispose();
    }

    [LoggerMessage(EventId = 1400, Level = LogLevel.Error, Message = "INTx resample poll failed: {Error}")]
    private static partial void LogPollFailed(ILogger logger, string error);
}
