using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    /// <summary>Copies from <paramref name="local"/> to <paramref name="remote"/>; faults come back as EFAULT (see process_vm_readv).</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint process_vm_writev(int pid, iovec* local, nuint liovcnt, iovec* remote, nuint riovcnt, nuint flags);
}
