using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PcieEmu.Interop;

/// <summary>eventfd(2): create, signal (the 8-byte counter add every vfio interrupt is) and drain.</summary>
public static class EventFd
{
    public static SafeFileHandle Create(bool nonBlocking = true)
    {
        int fd = Libc.eventfd(0, Libc.EFD_CLOEXEC | (nonBlocking ? Libc.EFD_NONBLOCK : 0));
        if (fd < 0)
        {
            throw new IOException($"eventfd failed: {Errno.Name(Libc.LastErrno)}");
        }

        return FileDescriptors.Own(fd);
    }

    /// <summary>Adds <paramref name="value"/> to the counter. Returns 0 or -errno (EAGAIN only at counter overflow).</summary>
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

    /// <summary>Reads and resets the counter; 0 when nothing was signalled (non-blocking fds).</summary>
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
}
