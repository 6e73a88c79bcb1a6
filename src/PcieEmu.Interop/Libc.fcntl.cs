using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    public const int F_DUPFD_CLOEXEC = 1030;

    /// <summary>fcntl commands for memfd seals (linux/fcntl.h: F_LINUX_SPECIFIC_BASE + 9 / + 10).</summary>
    public const int F_ADD_SEALS = 1033;
    public const int F_GET_SEALS = 1034;

    public const int F_SEAL_SEAL = 0x1;
    public const int F_SEAL_SHRINK = 0x2;
    public const int F_SEAL_GROW = 0x4;
    public const int F_SEAL_WRITE = 0x8;

    [LibraryImport(Library, SetLastError = true)]
    public static partial int fcntl(SafeHandle fd, int cmd, int arg);
}
