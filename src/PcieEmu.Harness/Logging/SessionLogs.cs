using System.Text;

namespace PcieEmu.Harness.Logging;

/// <summary>
/// The log files a guest session keeps in its work directory (QEMU's, the console's, one per card server) and
/// the report a failure message carries: each file's path and its last lines. The files are written by others
/// while they are read here, so every read shares them.
/// </summary>
internal sealed class SessionLogs(string workDirectory, int cardCount)
{
    public const int DefaultTailLines = 40;

    public string WorkDirectory { get; } = workDirectory;

    /// <summary>QEMU's stdout and stderr (and its exit code, once it exits).</summary>
    public string QemuLog => Path.Combine(WorkDirectory, "qemu.log");

    /// <summary>The guest's serial console.</summary>
    public string ConsoleLog => Path.Combine(WorkDirectory, "console.log");

    /// <summary>The log of card <paramref name="index"/>'s server.</summary>
    public static string ServerLog(string workDirectory, int index) => Path.Combine(workDirectory, $"server-{index}.log");

    /// <summary>Paths and tails of the QEMU, console and server logs, for failure messages.</summary>
    public string Describe(int tailLines = DefaultTailLines)
    {
        var sb = new StringBuilder();
        sb.Append("logs kept in ").Append(WorkDirectory).Append('\n');
        var files = new List<string> { QemuLog, ConsoleLog };
        files.AddRange(Enumerable.Range(0, cardCount).Select(i => ServerLog(WorkDirectory, i)));
        foreach (var path in files)
        {
            sb.Append("--- ").Append(path);
            if (!File.Exists(path))
            {
                sb.Append(" (missing)\n");
                continue;
            }

            string[] lines = ReadShared(path).Split('\n');
            sb.Append(lines.Length > tailLines ? $" (last {tailLines} lines)" : "").Append(" ---\n");
            foreach (var l in lines.TakeLast(tailLines))
            {
                sb.Append("  ").Append(l).Append('\n');
            }
        }

        return sb.ToString();
    }

    /// <summary>The lines of the console log so far (none when it does not exist yet).</summary>
    public string[] ConsoleLines() => File.Exists(ConsoleLog) ? ReadShared(ConsoleLog).Split('\n') : [];

    private static string ReadShared(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }
}
