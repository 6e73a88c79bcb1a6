using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int socketpair(int domain, int type, int protocol, int* sv);
}
