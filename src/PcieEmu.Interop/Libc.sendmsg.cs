using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint sendmsg(SafeHandle sockfd, msghdr* msg, int flags);

    /// <summary>The raw-descriptor form (see <see cref="recvmsg(int, msghdr*, int)"/>).</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint sendmsg(int sockfd, msghdr* msg, int flags);
}
