using System.Collections.Concurrent;
using System.Diagnostics;

namespace PcieEmu.Harness.Processes;

/// <summary>
/// Starts every child process from one long-lived thread and kills whatever is still running when this
/// process exits. The dedicated thread matters: QEMU's exit-with-parent uses PR_SET_PDEATHSIG, which fires
/// when the *forking thread* ends — a thread-pool thread retiring would kill QEMU.
/// </summary>
internal static class ChildProcessLauncher
{
    private static readonly BlockingCollection<Request> Requests = [];
    private static readonly ConcurrentDictionary<int, Process> Live = new();

    static ChildProcessLauncher()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "child-process-launcher" };
        thread.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
    }

    public static Process Start(ProcessStartInfo startInfo)
    {
        var request = new Request(startInfo, new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously));
        Requests.Add(request);
        return request.Result.Task.GetAwaiter().GetResult();
    }

    /// <summary>Kills every child still running (and its descendants).</summary>
    public static void KillAll()
    {
        foreach (var p in Live.Values)
        {
            Kill(p);
        }
    }

    public static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
    }

    private static void Run()
    {
        foreach (var request in Requests.GetConsumingEnumerable())
        {
            try
            {
                var p = new Process { StartInfo = request.StartInfo, EnableRaisingEvents = true };
                p.Start();
                int pid = p.Id;
                Live[pid] = p;
                p.Exited += (_, _) => Live.TryRemove(pid, out _);
                request.Result.SetResult(p);
            }
            catch (Exception e)
            {
                request.Result.SetException(e);
            }
        }
    }

    private sealed record Request(ProcessStartInfo StartInfo, TaskCompletionSource<Process> Result);
}
