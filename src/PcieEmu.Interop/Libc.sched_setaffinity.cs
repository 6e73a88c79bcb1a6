using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    /// <summary>Sets the CPU mask of thread <paramref name="pid"/> (0 = the calling thread); not of its whole process.</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int sched_setaffinity(int pid, nuint cpusetsize, ulong* mask);
}
