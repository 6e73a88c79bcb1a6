using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    /// <summary>Reads the CPU mask of thread <paramref name="pid"/> (0 = the calling thread).</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int sched_getaffinity(int pid, nuint cpusetsize, ulong* mask);
}
