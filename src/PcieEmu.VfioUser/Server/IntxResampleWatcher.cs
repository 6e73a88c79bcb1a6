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

    private unsafe void Run()
    {
        var fds = stackalloc pollfd[2];
        while (!_stopping)
        {
            SafeFileHandle? watched;
            lock (_sync)
            {
                watched = _resample;
            }

            bool addedWake = false, addedFd = false;
            try
            {
                _wake.DangerousAddRef(ref addedWake);
                fds[0] = new pollfd { fd = (int)_wake.DangerousGetHandle(), events = Libc.POLLIN };
                int n = 1;
                if (watched is not null && !watched.IsClosed)
                {
                    watched.DangerousAddRef(ref addedFd);
                    fds[1] = new pollfd { fd = (int)watched.DangerousGetHandle(), events = Libc.POLLIN };
                    n = 2;
                }

                int r = Libc.poll(fds, (nuint)n, -1);
                if (r < 0 && Libc.LastErrno != Errno.EINTR)
                {
                    LogPollFailed(_logger, Errno.Name(Libc.LastErrno));
                    return;
                }

                if ((fds[0].revents & Libc.POLLIN) != 0)
                {
                    EventFd.Drain(_wake);
                }

                if (n == 2 && (fds[1].revents & Libc.POLLIN) != 0 && EventFd.Drain(watched!) != 0)
                {
                    Resamples++;
                    _interrupts.SetMasked(IrqIndex.Intx, 0, 1, masked: false);
                }
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            finally
            {
                if (addedFd)
                {
                    watched!.DangerousRelease();
                }

                if (addedWake)
                {
                    _wake.DangerousRelease();
                }
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
