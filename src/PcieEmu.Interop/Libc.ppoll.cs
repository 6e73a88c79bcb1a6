using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    /// <summary>ppoll(2): poll with a nanosecond timeout (poll's is whole milliseconds). A null sigmask keeps the thread's.</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int ppoll(pollfd* fds, nuint nfds, timespec* timeout, void* sigmask);
}
