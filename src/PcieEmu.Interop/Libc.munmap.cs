using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    [LibraryImport(Library, SetLastError = true)]
    public static partial int munmap(nint addr, nuint length);
}
