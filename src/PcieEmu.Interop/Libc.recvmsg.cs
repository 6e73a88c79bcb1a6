using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint recvmsg(SafeHandle sockfd, msghdr* msg, int flags);

    /// <summary>
    /// The raw-descriptor form, for a caller that keeps the socket's SafeHandle referenced around the call: its stub has
    /// no try/finally, so the JIT can inline the transition instead of going through the generic P/Invoke helpers.
    /// </summary>
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint recvmsg(int sockfd, msghdr* msg, int flags);
}
