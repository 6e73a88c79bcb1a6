using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    /// <summary>io_uring_setup(2) and io_uring_enter(2): the same numbers on x86-64 and arm64 (asm-generic).</summary>
    public const nint SYS_io_uring_setup = 425;
    public const nint SYS_io_uring_enter = 426;

    /// <summary>
    /// syscall(2) for calls glibc does not wrap (io_uring). Declared with fixed arguments: on x86-64 and arm64 Linux a
    /// variadic callee receives integer arguments exactly as a fixed-argument one, and glibc's syscall() reads none as
    /// floating point.
    /// </summary>
    [LibraryImport(Library, SetLastError = true)]
    public static partial nint syscall(nint number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);
}
