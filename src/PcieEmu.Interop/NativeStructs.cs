#pragma warning disable CS8981 // C names kept on purpose: these mirror <sys/socket.h> and <poll.h>.
using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

/// <summary>struct iovec (16 bytes on LP64).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct iovec
{
    public void* iov_base;
    public nuint iov_len;
}

/// <summary>struct msghdr (56 bytes on LP64; the padding after msg_namelen and msg_flags is implicit).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct msghdr
{
    public void* msg_name;
    public uint msg_namelen;
    public iovec* msg_iov;
    public nuint msg_iovlen;
    public void* msg_control;
    public nuint msg_controllen;
    public int msg_flags;
}

/// <summary>struct cmsghdr (16 bytes on LP64); data follows, aligned to 8.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct cmsghdr
{
    public nuint cmsg_len;
    public int cmsg_level;
    public int cmsg_type;
}

/// <summary>struct pollfd (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct pollfd
{
    public int fd;
    public short events;
    public short revents;
}

/// <summary>struct timespec (16 bytes on LP64).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct timespec
{
    public long tv_sec;
    public long tv_nsec;
}

/// <summary>CMSG_* macros for LP64.</summary>
public static class Cmsg
{
    private const int Align = 8;

    public static int AlignUp(int length) => (length + Align - 1) & ~(Align - 1);

    public static int HeaderSize => AlignUp(16);

    /// <summary>CMSG_LEN(n).</summary>
    public static int Len(int dataLength) => HeaderSize + dataLength;

    /// <summary>CMSG_SPACE(n).</summary>
    public static int Space(int dataLength) => HeaderSize + AlignUp(dataLength);
}
