using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PcieEmu.Interop;

/// <summary>memfd_create(2) + ftruncate: anonymous shared memory that can be handed to a peer.</summary>
public static class MemFd
{
    /// <summary>
    /// A memfd of <paramref name="size"/> bytes. With <paramref name="sealSize"/> its size is sealed
    /// (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), as QEMU seals its guest RAM: a peer we hand it to can still map
    /// and write it, but can never shrink it under our own mapping (touching a page past a shrunken end raises
    /// SIGBUS, which would kill the server). The returned handle owns the fd; <paramref name="name"/> only labels it in
    /// /proc/&lt;pid&gt;/fd. Throws <see cref="IOException"/> when the memfd cannot be made, sized or sealed.
    /// </summary>
    public static SafeFileHandle Create(string name, long size, bool sealSize = false)
    {
        int fd = Libc.memfd_create(name, Libc.MFD_CLOEXEC | (sealSize ? Libc.MFD_ALLOW_SEALING : 0));
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

        if (sealSize && Libc.fcntl(handle, Libc.F_ADD_SEALS, Libc.F_SEAL_SHRINK | Libc.F_SEAL_GROW | Libc.F_SEAL_SEAL) != 0)
        {
            int err = Libc.LastErrno;
            handle.Dispose();
            throw new IOException($"F_ADD_SEALS failed: {Errno.Name(err)}");
        }

        return handle;
    }

    /// <summary>
    /// True when <paramref name="fd"/> can never become shorter (a memfd or shmem file with F_SEAL_SHRINK), so an
    /// mmap of it within its current size can be read and written with plain loads and stores. False for anything
    /// else: unsealed memfds, regular files, devices.
    /// </summary>
    public static bool IsShrinkSealed(SafeHandle fd)
    {
        int seals = Libc.fcntl(fd, Libc.F_GET_SEALS, 0);
        return seals >= 0 && (seals & Libc.F_SEAL_SHRINK) != 0;
    }

    /// <summary>
    /// Gives the pages of [offset, offset+length) back to the kernel (FALLOC_FL_PUNCH_HOLE): they read as zeros
    /// afterwards, in every mapping of the file, without being touched. False when the file system cannot punch holes.
    /// </summary>
    public static bool TryDiscard(SafeHandle fd, long offset, long length) =>
        Libc.fallocate(fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length) == 0;

    /// <summary>True when no page of the file holds data (all holes): nothing of it is resident.</summary>
    public static bool IsAllHoles(SafeHandle fd) =>
        Libc.lseek(fd, 0, Libc.SEEK_DATA) < 0 && Libc.LastErrno == Errno.ENXIO;
}
