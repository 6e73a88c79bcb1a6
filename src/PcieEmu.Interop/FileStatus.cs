using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

/// <summary>What kind of file system object a path names (the S_IFMT bits of its mode).</summary>
public enum FileKind
{
    /// <summary>A type this enum does not name (the S_IFMT bits hold something else).</summary>
    Unknown,

    /// <summary>S_IFREG: a regular file.</summary>
    Regular,

    /// <summary>S_IFDIR: a directory.</summary>
    Directory,

    /// <summary>S_IFLNK: a symbolic link (seen only when links are not followed, <see cref="FileStatus.OfLink"/>).</summary>
    SymbolicLink,

    /// <summary>S_IFSOCK: a UNIX socket, such as a vfio-user server's.</summary>
    Socket,

    /// <summary>S_IFIFO: a named pipe; opening one for reading blocks until a writer comes.</summary>
    Fifo,

    /// <summary>S_IFCHR: a character device (/dev/null, /dev/zero, a tty).</summary>
    CharacterDevice,

    /// <summary>S_IFBLK: a block device.</summary>
    BlockDevice,
}

/// <summary>
/// The type and identity of a file system object, from statx(2). Device + inode is the identity: one path at two
/// moments names the same object exactly when both are equal, which is how a server recognises the socket it bound
/// after someone else may have replaced it.
/// </summary>
/// <param name="Kind">The file's type.</param>
/// <param name="DeviceMajor">Major number of the device holding the file system the object lives on.</param>
/// <param name="DeviceMinor">Minor number of that device.</param>
/// <param name="Inode">The inode number, unique within that file system.</param>
/// <param name="Size">Size in bytes (for a symbolic link: the length of its target path; 0 for sockets and FIFOs).</param>
public readonly record struct FileStatus(FileKind Kind, uint DeviceMajor, uint DeviceMinor, ulong Inode, ulong Size)
{
    private const int ENOTDIR = 20; // a path component is not a directory: nothing is there either

    /// <summary>
    /// The path itself, lstat-style: a symbolic link is reported as one, never followed. Null when nothing is there
    /// (ENOENT, or ENOTDIR: a component is not a directory). A relative path is taken from the current directory.
    /// Throws <see cref="ArgumentException"/> for a path containing NUL and <see cref="IOException"/> for any other
    /// failure (EACCES on a directory in the path, ELOOP, …).
    /// </summary>
    public static FileStatus? OfLink(string path) => Get(path, Libc.AT_SYMLINK_NOFOLLOW);

    /// <summary>
    /// What the path leads to, stat-style (symbolic links followed). Null when nothing is there, a dangling link
    /// included; throws as <see cref="OfLink"/> does.
    /// </summary>
    public static FileStatus? Of(string path) => Get(path, 0);

    /// <summary>
    /// What an open file descriptor refers to (statx with AT_EMPTY_PATH: one syscall, no path involved). Throws
    /// <see cref="IOException"/> when the kernel refuses (a closed or invalid fd).
    /// </summary>
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

    /// <summary>
    /// Whether both statuses describe the same file system object (same device and inode), whatever their paths,
    /// kinds or sizes.
    /// </summary>
    public bool IsSameObjectAs(FileStatus other) =>
        DeviceMajor == other.DeviceMajor && DeviceMinor == other.DeviceMinor && Inode == other.Inode;

    /// <summary>The kind with its article, for error messages: "a FIFO", "a regular file", "a file of unknown type".</summary>
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

    /// <summary>The kind named by the S_IFMT bits of a st_mode / stx_mode value.</summary>
    internal static FileKind KindOf(ushort mode) => (ushort)(mode & Libc.S_IFMT) switch
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
