using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    [LibraryImport(Library, SetLastError = true)]
    public static partial nint mmap(nint addr, nuint length, int prot, int flags, SafeHandle fd, long offset);
}
