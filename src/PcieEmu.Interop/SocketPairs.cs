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

        // Both fds are owned at once; each handle passes to its Socket (which closes it from then on), and whatever
        // is not handed out when something throws is closed here.
        SafeSocketHandle? firstHandle = new(sv[0], ownsHandle: true);
        SafeSocketHandle? secondHandle = new(sv[1], ownsHandle: true);
        Socket? first = null;
        try
        {
            first = new Socket(firstHandle);
            firstHandle = null;
            var second = new Socket(secondHandle);
            secondHandle = null;
            return (first, second);
        }
        catch
        {
            first?.Dispose();
            throw;
        }
        finally
        {
            firstHandle?.Dispose();
            secondHandle?.Dispose();
        }
    }
}
