namespace PcieEmu.VfioUser.Tests.Infrastructure;

/// <summary>
/// Measures steady-state allocation as the quietest of a few windows. A steady-state allocation (per call, or every
/// so many calls) shows in every window; one-time runtime work does not: on a loaded CI machine the runtime's tier-up
/// or on-stack replacement landed inside a measured window more than once (3,960 and 5,328 bytes, each once), however
/// long the warm-up before it.
/// </summary>
internal static class SteadyStateAllocation
{
    /// <summary>How many windows are measured at most before the least one is taken.</summary>
    public const int Windows = 5;

    /// <summary>The window with the fewest bytes, stopping at the first that allocated nothing.</summary>
    public static T Quietest<T>(Func<T> window, Func<T, long> bytes)
    {
        T quietest = window();
        for (int i = 1; i < Windows && bytes(quietest) > 0; i++)
        {
            T next = window();
            if (bytes(next) < bytes(quietest))
            {
                quietest = next;
            }
        }

        return quietest;
    }

    /// <summary>Bytes this thread allocated in the quietest of up to <see cref="Windows"/> runs of <paramref name="window"/>.</summary>
    public static long OnThisThread(Action window) => Quietest(
        () =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            window();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        },
        bytes => bytes);
}
