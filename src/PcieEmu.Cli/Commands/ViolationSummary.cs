using PcieEmu.Devices;

namespace PcieEmu.Cli.Commands;

/// <summary>What boot prints at the end: the driver-rule violations of every card, the first of each rule in full.</summary>
internal static class ViolationSummary
{
    /// <summary>Full reports printed at most (the first of each rule); the JSON-lines file has them all.</summary>
    public const int FullReports = 5;

    /// <summary>Prints the summary to stderr and returns the number of violations (warnings not counted).</summary>
    public static int Print(IEnumerable<IEmulatedCard> cards)
    {
        var all = cards.ToList();
        long violations = all.Sum(c => c.Checker.Count);
        long warnings = all.Sum(c => c.Checker.Warnings);
        long hostProblems = all.Sum(c => c.Checker.HostProblemCount);
        foreach (var card in all)
        {
            foreach (var p in card.Checker.HostProblems())
            {
                Console.Error.WriteLine($"boot: host problem on {p.Function} (not the driver's): {p}");
            }
        }

        if (violations == 0)
        {
            Console.Error.WriteLine($"boot: the driver broke no rule of the card(s) ({warnings} warning(s), {hostProblems} host problem(s))");
            return 0;
        }

        var byRule = all.SelectMany(c => c.Checker.Snapshot()).Where(v => v.IsViolation).GroupBy(v => v.RuleName).Select(g => $"{g.Key} ×{g.Count()}");
        Console.Error.WriteLine($"boot: the driver broke {violations} rule(s) of the card(s): {string.Join(", ", byRule)}");
        int printed = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var card in all)
        {
            foreach (var v in card.Checker.Snapshot().Where(v => v.IsViolation))
            {
                if (printed < FullReports && seen.Add(v.RuleName))
                {
                    Console.Error.WriteLine(v.Report(card.Checker.SpecName));
                    printed++;
                }
            }
        }

        return (int)Math.Min(violations, int.MaxValue);
    }
}
