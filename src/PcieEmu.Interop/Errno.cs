namespace PcieEmu.Interop;

/// <summary>
/// Linux errno values (x86-64 and arm64 share them): the numbers vfio-user error replies carry in the header's error
/// field, and the ones the calls of this package return negated (-errno).
/// </summary>
public static class Errno
{
    /// <summary>Operation not permitted (1): a write to read-only guest memory, or shrinking a memfd whose size is sealed.</summary>
    public const int EPERM = 1;

    /// <summary>No such file or directory (2).</summary>
    public const int ENOENT = 2;

    /// <summary>No such process or thread (3): the thread ended before it could be pinned.</summary>
    public const int ESRCH = 3;

    /// <summary>Interrupted by a signal (4); the wrappers in this package retry on it.</summary>
    public const int EINTR = 4;

    /// <summary>I/O error (5): a transfer that could not complete, such as a short eventfd write or a reply that did not go out.</summary>
    public const int EIO = 5;

    /// <summary>No such device or address (6); lseek(SEEK_DATA) reports it when a file holds no data.</summary>
    public const int ENXIO = 6;

    /// <summary>Argument list too long (7); vfio-user answers it to a message larger than the negotiated limit.</summary>
    public const int E2BIG = 7;

    /// <summary>Bad file descriptor (9).</summary>
    public const int EBADF = 9;

    /// <summary>Try again (11): a non-blocking call would block, or an eventfd counter would overflow.</summary>
    public const int EAGAIN = 11;

    /// <summary>Out of memory (12), also reported when the io_uring rings cannot be mapped.</summary>
    public const int ENOMEM = 12;

    /// <summary>Permission denied (13).</summary>
    public const int EACCES = 13;

    /// <summary>Bad address (14): an address outside the memory it should fall in.</summary>
    public const int EFAULT = 14;

    /// <summary>Device or resource busy (16).</summary>
    public const int EBUSY = 16;

    /// <summary>File exists (17): a DMA mapping that overlaps one already in the table.</summary>
    public const int EEXIST = 17;

    /// <summary>No such device (19): a server asked a client for DMA, and the client has no guest memory to serve it from.</summary>
    public const int ENODEV = 19;

    /// <summary>Invalid argument (22): the answer to any malformed vfio-user request (bad size, count, index or flags).</summary>
    public const int EINVAL = 22;

    /// <summary>No space left (28): the DMA mapping table is full.</summary>
    public const int ENOSPC = 28;

    /// <summary>Broken pipe (32): the peer closed its end of the connection.</summary>
    public const int EPIPE = 32;

    /// <summary>Result out of range (34).</summary>
    public const int ERANGE = 34;

    /// <summary>Function not implemented (38): an unknown vfio-user command, or a kernel without the system call (io_uring).</summary>
    public const int ENOSYS = 38;

    /// <summary>Value too large for its type (75).</summary>
    public const int EOVERFLOW = 75;

    /// <summary>Operation not supported (95): a known vfio-user command or flag this server does not implement.</summary>
    public const int ENOTSUP = 95;

    /// <summary>Connection reset by peer (104).</summary>
    public const int ECONNRESET = 104;

    /// <summary>Timed out (110).</summary>
    public const int ETIMEDOUT = 110;

    /// <summary>Symbolic name for logs ("EINVAL"), or the number when unknown.</summary>
    public static string Name(int errno) => errno switch
    {
        0 => "OK",
        EPERM => nameof(EPERM),
        ENOENT => nameof(ENOENT),
        ESRCH => nameof(ESRCH),
        EINTR => nameof(EINTR),
        EIO => nameof(EIO),
        ENXIO => nameof(ENXIO),
        E2BIG => nameof(E2BIG),
        EBADF => nameof(EBADF),
        EAGAIN => nameof(EAGAIN),
        ENOMEM => nameof(ENOMEM),
        EACCES => nameof(EACCES),
        EFAULT => nameof(EFAULT),
        EBUSY => nameof(EBUSY),
        EEXIST => nameof(EEXIST),
        ENODEV => nameof(ENODEV),
        EINVAL => nameof(EINVAL),
        ENOSPC => nameof(ENOSPC),
        EPIPE => nameof(EPIPE),
        ERANGE => nameof(ERANGE),
        ENOSYS => nameof(ENOSYS),
        EOVERFLOW => nameof(EOVERFLOW),
        ENOTSUP => nameof(ENOTSUP),
        ECONNRESET => nameof(ECONNRESET),
        ETIMEDOUT => nameof(ETIMEDOUT),
        _ => errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
