using System.Globalization;
using System.Text.RegularExpressions;

namespace PcieEmu.Integration.Tests;

/// <summary>Parsers for what guest tools print.</summary>
internal static partial class GuestOutput
{
    /// <summary>Per-vector counts of the named IRQs in /proc/interrupts (single-CPU guest: first number column).</summary>
    public static Dictionary<string, long> InterruptCounts(string procInterrupts)
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

    public static ulong ParseHex(string text) => ulong.Parse(text.Trim().Replace("0x", "", StringComparison.OrdinalIgnoreCase), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    /// <summary>"16K" / "4K" / "1M" as lspci prints BAR sizes.</summary>
    public static string LspciSize(ulong bytes) => bytes switch
    {
        >= 1UL << 30 when bytes % (1UL << 30) == 0 => $"{bytes >> 30}G",
        >= 1UL << 20 when bytes % (1UL << 20) == 0 => $"{bytes >> 20}M",
        >= 1UL << 10 when bytes % (1UL << 10) == 0 => $"{bytes >> 10}K",
        _ => bytes.ToString(CultureInfo.InvariantCulture),
    };

    [GeneratedRegex(@"^\s*\d+:\s+(?<count>\d+)\s+.*\s(?<name>\S+)\s*$")]
    private static partial Regex InterruptLine();
}
