using System.Globalization;
using System.Text;
using PcieEmu.Pci.Checking;

namespace PcieEmu.Harness.Checking;

/// <summary>
/// The check a guest test ends with: no card saw its driver break a rule, except the rules the test said it
/// provokes. Warnings (reserved bits, undecoded offsets) are not failures unless a policy made them violations.
/// </summary>
internal static class ViolationAssertions
{
    /// <summary>Every violation the cards recorded (kept reports, in order per card), warnings left out.</summary>
    public static IReadOnlyList<RuleViolation> Violations(IEnumerable<DriverChecker> checkers) =>
        [.. checkers.SelectMany(c => c.Snapshot()).Where(v => v.IsViolation)];

    /// <summary>
    /// Throws <see cref="DriverViolationException"/> with the first unexpected violation's report when any card
    /// recorded a violation of a rule outside <paramref name="expectedRules"/>.
    /// </summary>
    public static void AssertNone(IEnumerable<DriverChecker> checkers, IReadOnlySet<string>? expectedRules = null)
    {
        var unexpected = checkers
            .SelectMany(c => c.Snapshot().Where(v => v.IsViolation).Select(v => (Checker: c, Violation: v)))
            .Where(p => expectedRules is null || !expectedRules.Contains(p.Violation.RuleName))
            .ToList();
        if (unexpected.Count == 0)
        {
            return;
        }

        var (checker, first) = unexpected[0];
        var violations = unexpected.Select(p => p.Violation).ToList();
        throw new DriverViolationException(Describe(violations, first.Report(checker.SpecName)), violations);
    }

    private static string Describe(IReadOnlyList<RuleViolation> unexpected, string firstReport)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"the driver broke {unexpected.Count} rule(s) of the card (");
        text.AppendJoin(", ", unexpected.GroupBy(v => v.RuleName).Select(g => g.Count() == 1 ? g.Key : $"{g.Key} ×{g.Count()}"));
        text.Append("); the first:\n").Append(firstReport);
        return text.ToString();
    }
}
