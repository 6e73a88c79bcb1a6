namespace PcieEmu.Interop;

/// <summary>Linux errno values used on the wire (vfio-user error replies) and by libc calls.</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int E2BIG = 7;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int EPIPE = 32;
    public const int ERANGE = 34;
    public const int ENOSYS = 38;
    public const int EOVERFLOW = 75;
    public const int ENOTSUP = 95;
    public const int ECONNRESET = 104;
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
