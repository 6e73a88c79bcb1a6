using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    [LibraryImport(Library, SetLastError = true)]
    public static partial int shutdown(SafeHandle sockfd, int how);

    /// <summary>The raw-descriptor form, for a caller that keeps the socket's SafeHandle referenced.</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static partial int shutdown(int sockfd, int how);
}
