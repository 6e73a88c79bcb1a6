using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;

    [LibraryImport(Library, SetLastError = true)]
    public static partial int fallocate(SafeHandle fd, int mode, long offset, long len);
}
