using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint read(SafeHandle fd, void* buf, nuint count);
}
