using System.Globalization;

namespace PcieEmu.Integration.Tests;

/// <summary>Guest-side paths and helpers for the (first) card.</summary>
internal static class GuestDevice
{
    public const string Bdf = "0000:01:00.0";

    public const string SysfsDir = "/sys/bus/pci/devices/" + Bdf;

    /// <summary>Physical base address of a BAR as the guest kernel assigned it (from sysfs "resource").</summary>
    public static async Task<ulong> BarAddress(GuestFixture guest, int bar, string sysfsDir = SysfsDir)
    {
        string line = await guest.Run($"sed -n '{bar + 1}p' {sysfsDir}/resource");
        return GuestOutput.ParseHex(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]);
    }

    public static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
