using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    public const int SEEK_SET = 0;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    [LibraryImport(Library, SetLastError = true)]
    public static partial long lseek(SafeHandle fd, long offset, int whence);
}
