using Microsoft.Win32.SafeHandles;

namespace PcieEmu.Interop;

/// <summary>Takes ownership of raw fds the moment they leave the kernel.</summary>
public static class FileDescriptors
{
    /// <summary>Wraps a raw fd in a SafeFileHandle that closes it; the caller must not use the int again.</summary>
    public static SafeFileHandle Own(int fd) => new((nint)fd, ownsHandle: true);

    /// <summary>A new, independently owned descriptor for the same open file (close-on-exec).</summary>
    public static SafeFileHandle Duplicate(System.Runtime.InteropServices.SafeHandle fd)
    {
        int n = Libc.fcntl(fd, Libc.F_DUPFD_CLOEXEC, 0);
        if (n < 0)
        {
            throw new IOException($"F_DUPFD_CLOEXEC failed: {Errno.Name(Libc.LastErrno)}");
        }

        return Own(n);
    }
}
