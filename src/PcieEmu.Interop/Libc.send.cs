using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    /// <summary>send(2) on a raw descriptor the caller keeps referenced (see <see cref="recvmsg(int, msghdr*, int)"/>).</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint send(int sockfd, void* buf, nuint len, int flags);
}
