using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using PcieEmu.Interop;

namespace PcieEmu.Cli.Bench;

/// <summary>
/// A server process a benchmark runs against: started pinned to a CPU (the forking thread's mask is inherited by
/// every thread of the child, as with taskset), its output kept for a failure report, killed on dispose.
/// </summary>
internal sealed class BenchChild : IDisposable
{
    private const int MaxKeptOutput = 64 * 1024;
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private BenchChild(string name, Process process)
    {
        Name = name;
        _process = process;
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <paramref name="file"/> with <paramref name="args"/>; with <paramref name="cpu"/>, on that CPU only.</summary>
    public static BenchChild Start(string name, string file, IEnumerable<string> args, int? cpu,
        IEnumerable<KeyValuePair<string, string>>? environment = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment ?? [])
        {
            start.Environment[key] = value;
        }

        return new BenchChild(name, StartPinned(start, cpu));
    }

    /// <summary>Process.Start with, if <paramref name="cpu"/> is given, the child pinned to that CPU from its first instruction.</summary>
    public static Process StartPinned(ProcessStartInfo start, int? cpu)
    {
        IReadOnlyList<int>? saved = null;
        if (cpu is { } c)
        {
            saved = CpuAffinity.OfCurrentThread();
            int r = CpuAffinity.PinCurrentThread([c]);
            if (r != 0)
            {
                throw new IOException($"cannot pin to CPU {c}: {Errno.Name(-r)}");
            }
        }

        try
        {
            // Process.Start forks on this thread, so the child starts with this thread's CPU mask.
            return Process.Start(start) ?? throw new IOException($"cannot start {start.FileName}");
        }
        finally
        {
            if (saved is not null)
            {
                CpuAffinity.PinCurrentThread(saved);
            }
        }
    }

    /// <summary>How to run this pcieemu again as a child: its apphost, or `dotnet pcieemu.dll`.</summary>
    public static (string File, string[] Prefix) Self()
    {
        string entry = Assembly.GetEntryAssembly()?.Location ?? throw new InvalidOperationException("no entry assembly");
        string? path = Environment.ProcessPath;
        return path is null || Path.GetFileNameWithoutExtension(path) == "dotnet"
            ? (path ?? "dotnet", [entry])
            : (path, []);
    }

    /// <summary>The CPUs each thread of the child may use ("1", or "0-1"), read from /proc for the report.</summary>
    public string AllowedCpus()
    {
        var lists = new SortedSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{Id}/task"))
            {
                foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal))
                    {
                        lists.Add(line["Cpus_allowed_list:".Length..].Trim());
                    }
                }
            }
        }
        catch (IOException)
        {
        }

        return lists.Count == 0 ? "?" : string.Join(" / ", lists);
    }

    /// <summary>
    /// CPU time, run-queue wait and times scheduled in of each live thread of the child (/proc/PID/task/*/schedstat,
    /// nanoseconds). Only threads alive at both reads count in a difference, so read it while a session is open.
    /// </summary>
    public Dictionary<int, (string Name, SchedStat Stat)> ReadSchedStat()
    {
        var threads = new Dictionary<int, (string, SchedStat)>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{Id}/task"))
            {
                try
                {
                    var f = File.ReadAllText(Path.Combine(task, "schedstat")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (f.Length >= 3 && int.TryParse(Path.GetFileName(task), NumberStyles.None, CultureInfo.InvariantCulture, out int tid))
                    {
                        string name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
                        threads[tid] = (name, new SchedStat(long.Parse(f[0], CultureInfo.InvariantCulture), long.Parse(f[1], CultureInfo.InvariantCulture),
                            long.Parse(f[2], CultureInfo.InvariantCulture)));
                    }
                }
                catch (IOException)
                {
                    // the thread ended while we looked
                }
            }
        }
        catch (IOException)
        {
        }

        return threads;
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < MaxKeptOutput)
            {
                _output.AppendLine(line);
            }
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }
}

/// <summary>Scheduler accounting of a set of threads: on-CPU and runnable-but-waiting nanoseconds, times scheduled in.</summary>
internal readonly record struct SchedStat(long CpuNs, long WaitNs, long Slices)
{
    public static SchedStat operator +(SchedStat a, SchedStat b) => new(a.CpuNs + b.CpuNs, a.WaitNs + b.WaitNs, a.Slices + b.Slices);

    public static SchedStat operator -(SchedStat a, SchedStat b) => new(a.CpuNs - b.CpuNs, a.WaitNs - b.WaitNs, a.Slices - b.Slices);
}

/// <summary>
/// What a server's threads did between two reads: the busiest thread (the session's, which serves the requests)
/// and all the others together (runtime threads: tiered JIT, finalizer, …), whose CPU competes with it.
/// </summary>
internal sealed record ServerActivity(SchedStat Session, SchedStat Others, IReadOnlyList<(string Name, double Ms)> OtherThreads)
{
    public static ServerActivity Between(Dictionary<int, (string Name, SchedStat Stat)> before, Dictionary<int, (string Name, SchedStat Stat)> after)
    {
        var deltas = new List<(int Tid, string Name, SchedStat Delta)>();
        foreach (var (tid, now) in after)
        {
            if (before.TryGetValue(tid, out var then))
            {
                deltas.Add((tid, now.Name, now.Stat - then.Stat));
            }
        }

        if (deltas.Count == 0)
        {
            return new ServerActivity(default, default, []);
        }

        var busiest = deltas.MaxBy(d => d.Delta.CpuNs);
        SchedStat others = default;
        var named = new List<(string, double)>();
        foreach (var d in deltas.Where(d => d.Tid != busiest.Tid))
        {
            others += d.Delta;
            if (d.Delta.CpuNs >= 100_000)
            {
                named.Add((d.Name, d.Delta.CpuNs / 1e6));
            }
        }

        return new ServerActivity(busiest.Delta, others, named);
    }
}
