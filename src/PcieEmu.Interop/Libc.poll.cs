using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int poll(pollfd* fds, nuint nfds, int timeout);
}
