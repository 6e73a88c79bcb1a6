using System.Globalization;

namespace PcieEmu.Integration.Tests;

/// <summary>Parsers for what guest tools print.</summary>
internal static class GuestOutput
{
    public static ulong ParseHex(string text) => ulong.Parse(text.Trim().Replace("0x", "", StringComparison.OrdinalIgnoreCase), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    /// <summary>"16K" / "4K" / "1M" as lspci prints BAR sizes.</summary>
    public static string LspciSize(ulong bytes) => bytes switch
    {
        >= 1UL << 30 when bytes % (1UL << 30) == 0 => $"{bytes >> 30}G",
        >= 1UL << 20 when bytes % (1UL << 20) == 0 => $"{bytes >> 20}M",
        >= 1UL << 10 when bytes % (1UL << 10) == 0 => $"{bytes >> 10}K",
        _ => bytes.ToString(CultureInfo.InvariantCulture),
    };
}
