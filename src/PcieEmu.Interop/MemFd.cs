using Microsoft.Win32.SafeHandles;

namespace PcieEmu.Interop;

/// <summary>memfd_create(2) + ftruncate: anonymous shared memory that can be handed to a peer.</summary>
public static class MemFd
{
    public static SafeFileHandle Create(string name, long size)
    {
        int fd = Libc.memfd_create(name, Libc.MFD_CLOEXEC);
        if (fd < 0)
        {
            throw new IOException($"memfd_create failed: {Errno.Name(Libc.LastErrno)}");
        }

        var handle = FileDescriptors.Own(fd);
        if (Libc.ftruncate(handle, size) != 0)
        {
            int err = Libc.LastErrno;
            handle.Dispose();
            throw new IOException($"ftruncate({size}) failed: {Errno.Name(err)}");
        }

        return handle;
    }
}
