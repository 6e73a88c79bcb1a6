namespace PcieEmu.VfioUser.Tests.Infrastructure;

/// <summary>Counts this process's open file descriptors (entries of /proc/self/fd), after finalizers ran.</summary>
internal static class FdCount
{
    public static int Now()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Directory.GetFileSystemEntries("/proc/self/fd").Length;
    }

    /// <summary>Waits (briefly) for the count to come back to <paramref name="expected"/>; returns the last count.</summary>
    public static int SettleTo(int expected, int timeoutMs = 3000)
    {
        var until = Environment.TickCount64 + timeoutMs;
        int n;
        while ((n = Now()) != expected && Environment.TickCount64 < until)
        {
            Thread.Sleep(10);
        }

        return n;
    }
}

/// <summary>Tests that count process-wide fds must not run alongside others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FdSensitiveCollection
{
    public const string Name = "fd-sensitive";
}
