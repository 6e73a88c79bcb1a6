#pragma warning disable CS8981 // C names kept on purpose: these mirror <sys/socket.h> and <poll.h>.
using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

/// <summary>struct iovec of &lt;sys/uio.h&gt; (16 bytes on LP64): one buffer of a scatter/gather list.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct iovec
{
    public void* iov_base;
    public nuint iov_len;
}

/// <summary>struct msghdr of &lt;sys/socket.h&gt; (56 bytes on LP64; the padding after msg_namelen and msg_flags is implicit).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct msghdr
{
    public void* msg_name;
    public uint msg_namelen;
    public iovec* msg_iov;
    public nuint msg_iovlen;
    public void* msg_control;
    public nuint msg_controllen;
    public int msg_flags;
}

/// <summary>struct cmsghdr of &lt;sys/socket.h&gt; (16 bytes on LP64); data follows, aligned to 8.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct cmsghdr
{
    public nuint cmsg_len;
    public int cmsg_level;
    public int cmsg_type;
}

/// <summary>struct pollfd of &lt;poll.h&gt; (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct pollfd
{
    public int fd;
    public short events;
    public short revents;
}

/// <summary>struct timespec of &lt;time.h&gt; (16 bytes on LP64).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct timespec
{
    public long tv_sec;
    public long tv_nsec;
}

/// <summary>The CMSG_* macros of &lt;sys/socket.h&gt; for LP64.</summary>
internal static class Cmsg
{
    private const int Align = 8;

    public static int AlignUp(int length) => (length + Align - 1) & ~(Align - 1);

    public static int HeaderSize => AlignUp(16);

    /// <summary>CMSG_LEN(n).</summary>
    public static int Len(int dataLength) => HeaderSize + dataLength;

    /// <summary>CMSG_SPACE(n).</summary>
    public static int Space(int dataLength) => HeaderSize + AlignUp(dataLength);
}

/// <summary>struct io_sqring_offsets of &lt;linux/io_uring.h&gt; (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct io_sqring_offsets
{
    public uint head;
    public uint tail;
    public uint ring_mask;
    public uint ring_entries;
    public uint flags;
    public uint dropped;
    public uint array;
    public uint resv1;
    public ulong user_addr;
}

/// <summary>struct io_cqring_offsets of &lt;linux/io_uring.h&gt; (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct io_cqring_offsets
{
    public uint head;
    public uint tail;
    public uint ring_mask;
    public uint ring_entries;
    public uint overflow;
    public uint cqes;
    public uint flags;
    public uint resv1;
    public ulong user_addr;
}

/// <summary>struct io_uring_params of &lt;linux/io_uring.h&gt; (120 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct io_uring_params
{
    public uint sq_entries;
    public uint cq_entries;
    public uint flags;
    public uint sq_thread_cpu;
    public uint sq_thread_idle;
    public uint features;
    public uint wq_fd;
    public fixed uint resv[3];
    public io_sqring_offsets sq_off;
    public io_cqring_offsets cq_off;
}

/// <summary>struct io_uring_sqe of &lt;linux/io_uring.h&gt; (64 bytes), with the fields the socket operations use.</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal struct io_uring_sqe
{
    [FieldOffset(0)] public byte opcode;
    [FieldOffset(1)] public byte flags;
    [FieldOffset(2)] public ushort ioprio;
    [FieldOffset(4)] public int fd;
    [FieldOffset(8)] public ulong off;
    [FieldOffset(16)] public ulong addr;
    [FieldOffset(24)] public uint len;
    [FieldOffset(28)] public uint msg_flags;
    [FieldOffset(32)] public ulong user_data;
}

/// <summary>struct io_uring_cqe of &lt;linux/io_uring.h&gt; (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct io_uring_cqe
{
    public ulong user_data;
    public int res;
    public uint flags;
}
