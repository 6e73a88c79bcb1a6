using System.Net.Sockets;

namespace PcieEmu.Interop;

/// <summary>socketpair(AF_UNIX, SOCK_STREAM): a connected pair without a path on disk.</summary>
internal static class SocketPairs
{
    public static unsafe (Socket First, Socket Second) Create()
    {
        int* sv = stackalloc int[2];
        if (Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, sv) != 0)
        {
            throw new IOException($"socketpair failed: {Errno.Name(Libc.LastErrno)}");
        }

        return (new Socket(new SafeSocketHandle(sv[0], ownsHandle: true)),
                new Socket(new SafeSocketHandle(sv[1], ownsHandle: true)));
    }
}
