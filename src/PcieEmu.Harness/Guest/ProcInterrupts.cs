using System.Globalization;
using System.Text.RegularExpressions;

namespace PcieEmu.Harness.Guest;

/// <summary>Parses the guest's /proc/interrupts.</summary>
internal static partial class ProcInterrupts
{
    /// <summary>Counts of the named IRQs (single-CPU guest: the first number column), by the last column's name.</summary>
    public static Dictionary<string, long> Parse(string procInterrupts)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in procInterrupts.Split('\n'))
        {
            var m = InterruptLine().Match(line);
            if (m.Success)
            {
                result[m.Groups["name"].Value] = long.Parse(m.Groups["count"].Value, CultureInfo.InvariantCulture);
            }
        }

        return result;
    }

    [GeneratedRegex(@"^\s*\d+:\s+(?<count>\d+)\s+.*\s(?<name>\S+)\s*$")]
    private static partial Regex InterruptLine();
}
