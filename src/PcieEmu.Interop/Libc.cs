using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

/// <summary>
/// The project's only P/Invoke surface. One libc function per file (Libc.&lt;name&gt;.cs), C names kept,
/// fixed-size types, errno read through <see cref="Marshal.GetLastPInvokeError"/>.
/// Layouts and constants are Linux LP64 (x86-64 and arm64 agree on all of them).
/// </summary>
internal static partial class Libc
{
    internal const string Library = "libc";

    public const int SOL_SOCKET = 1;
    public const int SCM_RIGHTS = 1;

    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_CTRUNC = 0x08;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_WAITALL = 0x100;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;

    public const int PROT_READ = 0x1;
    public const int PROT_WRITE = 0x2;
    public const int MAP_SHARED = 0x01;

    public const int EFD_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;
    public const uint MFD_CLOEXEC = 0x1;

    public const short POLLIN = 0x1;
    public const short POLLOUT = 0x4;
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;

    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_CLOEXEC = 0x80000;

    public const int SHUT_RDWR = 2;

    /// <summary>The errno of the last failed call on this thread.</summary>
    public static int LastErrno => Marshal.GetLastPInvokeError();
}
