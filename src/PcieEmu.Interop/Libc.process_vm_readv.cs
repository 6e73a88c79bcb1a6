using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    /// <summary>
    /// Copies from <paramref name="remote"/> (an address range of process <paramref name="pid"/>, here our own) to
    /// <paramref name="local"/>. Unlike a load, a page that cannot be faulted in (a shared file mapping past a
    /// shrunken end) makes it fail with EFAULT or a short count instead of raising SIGBUS.
    /// </summary>
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint process_vm_readv(int pid, iovec* local, nuint liovcnt, iovec* remote, nuint riovcnt, nuint flags);
}
