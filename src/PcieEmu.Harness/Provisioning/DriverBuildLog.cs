using System.Text.RegularExpressions;

namespace PcieEmu.Harness.Provisioning;

/// <summary>
/// Reading a kernel module build's output for a person: paths in the scratch copy become paths in the user's
/// directory (so `hello.c:42:5: warning: …` names the file they edit), the make and Kbuild chatter goes, and a failed
/// build is summed up by its first problem (the order of provisioning's first_build_problem).
/// </summary>
internal static partial class DriverBuildLog
{
    /// <summary>Stands for the source directory in diagnostics kept in the cache (a cached build may serve another path).</summary>
    public const string SourcePlaceholder = "@@PCIEEMU_DRIVER_SOURCE@@";

    /// <summary>
    /// <paramref name="line"/> with the build copy's directory replaced by the user's. Both are absolute paths
    /// without a trailing separator; the copy's name is unique (it holds the cache key and a process id), so only
    /// paths inside it change.
    /// </summary>
    public static string Rewrite(string line, string scratchDirectory, string sourceDirectory) =>
        line.Replace(scratchDirectory, sourceDirectory, StringComparison.Ordinal);

    /// <summary>The compiler's and modpost's lines of a build: everything but make's and Kbuild's progress chatter.</summary>
    public static IReadOnlyList<string> Diagnostics(IEnumerable<string> lines) =>
        [.. lines.Where(l => l.Trim().Length > 0 && !Chatter().IsMatch(l))];

    /// <summary>How many warnings the lines hold (the compiler's `file:line:col: warning:` and modpost's `WARNING:`).</summary>
    public static int CountWarnings(IEnumerable<string> lines) => lines.Count(l => Warning().IsMatch(l));

    /// <summary>The most useful single line of a failed build, or null when the output has none.</summary>
    public static string? FirstProblem(IReadOnlyList<string> lines)
    {
        foreach (var pattern in new[] { CompilerError(), ToolError(), AnyError(), Warning(), MakeFailure() })
        {
            if (lines.FirstOrDefault(l => pattern.IsMatch(l)) is { } line)
            {
                return line.Trim();
            }
        }

        return lines.LastOrDefault(l => l.Trim().Length > 0)?.Trim();
    }

    [GeneratedRegex(@"^(make(\[\d+\])?: (Entering|Leaving) directory|  [A-Z][A-Z0-9_]*( \[M\])?\s|Skipping BTF generation)")]
    private static partial Regex Chatter();

    [GeneratedRegex(@": (fatal )?error: ")]
    private static partial Regex CompilerError();

    [GeneratedRegex(@"^ERROR: ")]
    private static partial Regex ToolError();

    [GeneratedRegex(@"[Ee]rror: ")]
    private static partial Regex AnyError();

    [GeneratedRegex(@"(: warning: |^WARNING: )")]
    private static partial Regex Warning();

    [GeneratedRegex(@"\*\*\* ")]
    private static partial Regex MakeFailure();
}
