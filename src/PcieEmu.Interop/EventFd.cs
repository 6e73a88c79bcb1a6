using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PcieEmu.Interop;

/// <summary>
/// eventfd(2): create, signal (the 8-byte counter add every vfio interrupt is), drain and wait. Every call takes the fd
/// as a <see cref="SafeHandle"/> and holds a reference on it for the call's duration; the caller keeps ownership.
/// </summary>
public static class EventFd
{
    /// <summary>
    /// A new eventfd with its counter at 0, close-on-exec, owned by the returned handle (dispose it to close the fd).
    /// Non-blocking by default, so <see cref="Drain"/> returns 0 instead of waiting when nothing was signalled.
    /// Throws <see cref="IOException"/> when the kernel refuses (out of fds).
    /// </summary>
    public static SafeFileHandle Create(bool nonBlocking = true)
    {
        int fd = Libc.eventfd(0, Libc.EFD_CLOEXEC | (nonBlocking ? Libc.EFD_NONBLOCK : 0));
        if (fd < 0)
        {
            throw new IOException($"eventfd failed: {Errno.Name(Libc.LastErrno)}");
        }

        return FileDescriptors.Own(fd);
    }

    /// <summary>
    /// Adds <paramref name="value"/> to the counter, waking whoever polls the fd (for an interrupt eventfd: KVM or QEMU
    /// injects the vector). Returns 0 or -errno (EAGAIN only at counter overflow). Throws
    /// <see cref="ObjectDisposedException"/> when <paramref name="fd"/> is already closed.
    /// </summary>
    public static unsafe int Signal(SafeHandle fd, ulong value = 1)
    {
        while (true)
        {
            nint n = Libc.write(fd, &value, sizeof(ulong));
            if (n == sizeof(ulong))
            {
                return 0;
            }

            int err = n < 0 ? Libc.LastErrno : Errno.EIO;
            if (err != Errno.EINTR)
            {
                return -err;
            }
        }
    }

    /// <summary>
    /// Reads and resets the counter: the sum of every value signalled since the last drain, or 0 when nothing was
    /// signalled (a non-blocking fd) or the read failed. A blocking fd waits for a signal first.
    /// </summary>
    public static unsafe ulong Drain(SafeHandle fd)
    {
        ulong value = 0;
        while (true)
        {
            nint n = Libc.read(fd, &value, sizeof(ulong));
            if (n == sizeof(ulong))
            {
                return value;
            }

            if (n < 0 && Libc.LastErrno == Errno.EINTR)
            {
                continue;
            }

            return 0;
        }
    }

    /// <summary>
    /// Blocks until <paramref name="first"/> or <paramref name="second"/> (null: <paramref name="first"/> alone) is
    /// readable, i.e. has been signalled, without draining either. Returns 0 with the readable ones flagged, or -errno
    /// (-EINTR when a signal interrupted the wait: nothing is flagged, wait again). Throws
    /// <see cref="ObjectDisposedException"/> when either handle is already closed.
    /// </summary>
    public static unsafe int WaitAny(SafeHandle first, SafeHandle? second, out bool firstReadable, out bool secondReadable)
    {
        firstReadable = secondReadable = false;
        bool addedFirst = false, addedSecond = false;
        try
        {
            first.DangerousAddRef(ref addedFirst);
            var fds = stackalloc pollfd[2];
            fds[0] = new pollfd { fd = (int)first.DangerousGetHandle(), events = Libc.POLLIN };
            int count = 1;
            if (second is not null)
            {
                second.DangerousAddRef(ref addedSecond);
                fds[1] = new pollfd { fd = (int)second.DangerousGetHandle(), events = Libc.POLLIN };
                count = 2;
            }

            if (Libc.poll(fds, (nuint)count, -1) < 0)
            {
                return -Libc.LastErrno;
            }

            firstReadable = (fds[0].revents & Libc.POLLIN) != 0;
            secondReadable = count == 2 && (fds[1].revents & Libc.POLLIN) != 0;
            return 0;
        }
        finally
        {
            if (addedSecond)
            {
                second!.DangerousRelease();
            }

            if (addedFirst)
            {
                first.DangerousRelease();
            }
        }
    }
}
