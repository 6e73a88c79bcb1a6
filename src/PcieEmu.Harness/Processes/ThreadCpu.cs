using System.Globalization;

namespace PcieEmu.Harness.Processes;

/// <summary>
/// CPU time of this process's threads by name, from /proc/self/task/*/{comm,stat} (utime + stime). Lets a
/// benchmark say which threads the time went to (the card's stream engine, the vfio-user socket loop, …).
/// </summary>
internal static class ThreadCpu
{
    private static readonly double TicksPerSecond = 100; // USER_HZ: 100 on every Linux ABI .NET runs on

    /// <summary>CPU seconds per thread id with its name; threads that end between reads are simply missing.</summary>
    public static IReadOnlyDictionary<int, (string Name, double Seconds)> Sample()
    {
        var result = new Dictionary<int, (string, double)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int tid))
            {
                continue;
            }

            try
            {
                string name = File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n');
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                if (TryParseTicks(stat, out long ticks))
                {
                    result[tid] = (name, ticks / TicksPerSecond);
                }
            }
            catch (IOException)
            {
                // the thread ended while we looked
            }
        }

        return result;
    }

    /// <summary>CPU seconds per thread name spent between two samples (threads born in between count from zero).</summary>
    public static IReadOnlyDictionary<string, double> Between(IReadOnlyDictionary<int, (string Name, double Seconds)> before,
        IReadOnlyDictionary<int, (string Name, double Seconds)> after)
    {
        var byName = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (tid, (name, seconds)) in after)
        {
            double start = before.TryGetValue(tid, out var b) ? b.Seconds : 0;
            byName[name] = byName.GetValueOrDefault(name) + Math.Max(0, seconds - start);
        }

        return byName;
    }

    /// <summary>Fields 14 and 15 (utime, stime) of a stat line; the name in parentheses may contain spaces.</summary>
    internal static bool TryParseTicks(string stat, out long ticks)
    {
        ticks = 0;
        int close = stat.LastIndexOf(')');
        if (close < 0)
        {
            return false;
        }

        // After ") " come field 3 (state) onwards; utime and stime are fields 14 and 15.
        var fields = stat[(close + 2)..].Split(' ');
        return fields.Length > 12
               && long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out long user)
               && long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out long system)
               && (ticks = user + system) >= 0;
    }
}
