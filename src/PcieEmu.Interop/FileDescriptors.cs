using Microsoft.Win32.SafeHandles;

namespace PcieEmu.Interop;

/// <summary>File descriptor ownership: raw fds become SafeFileHandles the moment they leave the kernel.</summary>
public static class FileDescriptors
{
    /// <summary>Wraps a raw fd in a SafeFileHandle that closes it; the caller must not use the int again.</summary>
    internal static SafeFileHandle Own(int fd) => new((nint)fd, ownsHandle: true);

    /// <summary>
    /// A new descriptor for the same open file (shared offset and status flags, close-on-exec), owned by the returned
    /// handle; closing either leaves the other open. Throws <see cref="IOException"/> when the kernel refuses (out of
    /// fds) and <see cref="ObjectDisposedException"/> when <paramref name="fd"/> is already closed.
    /// </summary>
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
