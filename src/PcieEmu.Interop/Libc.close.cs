using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    /// <summary>Only for fds not yet owned by a SafeHandle (none in normal paths: ownership is taken at receipt).</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static partial int close(int fd);
}
