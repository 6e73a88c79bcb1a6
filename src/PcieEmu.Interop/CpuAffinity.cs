using System.Globalization;

namespace PcieEmu.Interop;

/// <summary>
/// sched_setaffinity(2) over a fixed 1024-CPU mask (glibc's cpu_set_t). Linux pins threads, not processes: a thread
/// inherits the mask of the thread that created it, and a child process that of the thread that forked it — so
/// pinning the calling thread around Process.Start pins every thread of the child, as taskset does.
/// </summary>
public static class CpuAffinity
{
    private const int MaskWords = 1024 / 64;

    /// <summary>The CPUs (numbers from 0, ascending) the calling thread may run on. Throws <see cref="IOException"/> if the kernel refuses.</summary>
    public static unsafe IReadOnlyList<int> OfCurrentThread()
    {
        ulong* mask = stackalloc ulong[MaskWords];
        if (Libc.sched_getaffinity(0, MaskWords * sizeof(ulong), mask) != 0)
        {
            throw new IOException($"sched_getaffinity failed: {Errno.Name(Libc.LastErrno)}");
        }

        var cpus = new List<int>();
        for (int cpu = 0; cpu < MaskWords * 64; cpu++)
        {
            if ((mask[cpu / 64] & (1UL << (cpu % 64))) != 0)
            {
                cpus.Add(cpu);
            }
        }

        return cpus;
    }

    /// <summary>
    /// Restricts the calling thread (and the threads and processes it creates from now on) to <paramref name="cpus"/>.
    /// Returns 0 or -errno: -EINVAL for a CPU number outside 0..1023, or for a set with no CPU the thread may use.
    /// </summary>
    public static int PinCurrentThread(IReadOnlyCollection<int> cpus) => Pin(0, cpus);

    /// <summary>
    /// Restricts every thread this process has now to <paramref name="cpus"/> (threads created later inherit it from
    /// their creator). 0 or the first -errno; a thread that ends meanwhile is skipped.
    /// </summary>
    public static int PinCurrentProcess(IReadOnlyCollection<int> cpus)
    {
        int first = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int tid))
            {
                continue;
            }

            int r = Pin(tid, cpus);
            if (r != 0 && r != -Errno.ESRCH && first == 0)
            {
                first = r;
            }
        }

        return first;
    }

    private static unsafe int Pin(int tid, IReadOnlyCollection<int> cpus)
    {
        ulong* mask = stackalloc ulong[MaskWords];
        new Span<ulong>(mask, MaskWords).Clear();
        foreach (int cpu in cpus)
        {
            if (cpu < 0 || cpu >= MaskWords * 64)
            {
                return -Errno.EINVAL;
            }

            mask[cpu / 64] |= 1UL << (cpu % 64);
        }

        return Libc.sched_setaffinity(tid, MaskWords * sizeof(ulong), mask) == 0 ? 0 : -Libc.LastErrno;
    }
}
