using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

public static partial class Libc
{
    public const int F_DUPFD_CLOEXEC = 1030;

    [LibraryImport(Library, SetLastError = true)]
    public static partial int fcntl(SafeHandle fd, int cmd, int arg);
}
