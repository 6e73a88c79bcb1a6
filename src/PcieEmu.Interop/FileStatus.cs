using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

/// <summary>What kind of file system object a path names (the S_IFMT bits of its mode).</summary>
public enum FileKind
{
    Unknown,
    Regular,
    Directory,
    SymbolicLink,
    Socket,
    Fifo,
    CharacterDevice,
    BlockDevice,
}

/// <summary>
/// The type and identity of a file system object, from statx(2). Device + inode is the identity: one path at two
/// moments names the same object exactly when both are equal, which is how a server recognises the socket it bound
/// after someone else may have replaced it.
/// </summary>
public readonly record struct FileStatus(FileKind Kind, uint DeviceMajor, uint DeviceMinor, ulong Inode, ulong Size)
{
    private const int ENOTDIR = 20; // a path component is not a directory: nothing is there either

    /// <summary>The path itself, lstat-style: a symbolic link is reported as one, never followed. Null when nothing is there.</summary>
    public static FileStatus? OfLink(string path) => Get(path, Libc.AT_SYMLINK_NOFOLLOW);

    /// <summary>What the path leads to, stat-style (symbolic links followed). Null when nothing is there.</summary>
    public static FileStatus? Of(string path) => Get(path, 0);

    /// <summary>What an open file descriptor refers to (statx with AT_EMPTY_PATH: one syscall, no path involved).</summary>
    public static unsafe FileStatus OfDescriptor(SafeHandle fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        bool added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            statx buffer = default;
            if (Libc.statx((int)fd.DangerousGetHandle(), string.Empty, Libc.AT_EMPTY_PATH, Libc.STATX_TYPE | Libc.STATX_INO | Libc.STATX_SIZE, &buffer) != 0)
            {
                throw new IOException($"cannot examine fd {fd.DangerousGetHandle()}: {Marshal.GetPInvokeErrorMessage(Libc.LastErrno)}");
            }

            return new FileStatus(KindOf(buffer.stx_mode), buffer.stx_dev_major, buffer.stx_dev_minor, buffer.stx_ino, buffer.stx_size);
        }
        finally
        {
            fd.DangerousRelease();
        }
    }

    public bool IsSameObjectAs(FileStatus other) =>
        DeviceMajor == other.DeviceMajor && DeviceMinor == other.DeviceMinor && Inode == other.Inode;

    /// <summary>"a FIFO", "a regular file", … for error messages.</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a directory",
        FileKind.SymbolicLink => "a symbolic link",
        FileKind.Socket => "a socket",
        FileKind.Fifo => "a FIFO",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        _ => "a file of unknown type",
    };

    public static FileKind KindOf(ushort mode) => (ushort)(mode & Libc.S_IFMT) switch
    {
        Libc.S_IFREG => FileKind.Regular,
        Libc.S_IFDIR => FileKind.Directory,
        Libc.S_IFLNK => FileKind.SymbolicLink,
        Libc.S_IFSOCK => FileKind.Socket,
        Libc.S_IFIFO => FileKind.Fifo,
        Libc.S_IFCHR => FileKind.CharacterDevice,
        Libc.S_IFBLK => FileKind.BlockDevice,
        _ => FileKind.Unknown,
    };

    private static unsafe FileStatus? Get(string path, int flags)
    {
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            // The C string would end early and name another file.
            throw new ArgumentException($"{path}: a path cannot contain a NUL character", nameof(path));
        }

        statx buffer = default;
        if (Libc.statx(Libc.AT_FDCWD, path, flags, Libc.STATX_TYPE | Libc.STATX_INO | Libc.STATX_SIZE, &buffer) != 0)
        {
            int errno = Libc.LastErrno;
            if (errno is Errno.ENOENT or ENOTDIR)
            {
                return null;
            }

            throw new IOException($"cannot examine {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        return new FileStatus(KindOf(buffer.stx_mode), buffer.stx_dev_major, buffer.stx_dev_minor, buffer.stx_ino, buffer.stx_size);
    }
}
