using System.Globalization;

namespace PcieEmu.Pci.Checking;

/// <summary>What kind of bus access the guest (through the client) made.</summary>
public enum GuestAccessKind : byte
{
    ConfigRead = 1,
    ConfigWrite = 2,
    BarRead = 3,
    BarWrite = 4,
    RomRead = 5,
    Reset = 6,
}

/// <summary>
/// One guest access to a function: the stimulus a violation is charged to. <paramref name="Sequence"/> counts the
/// function's guest accesses from 1 (the n-th access since the function was built), so two reports can be ordered and
/// matched with a trace; <paramref name="Value"/> is the value written (the first 8 bytes of a longer write), 0 for reads.
/// </summary>
public readonly record struct GuestAccess(
    GuestAccessKind Kind, int Bar, ulong Offset, int Size, ulong Value, long Sequence, long DeviceNanoseconds)
{
    /// <summary>"write of 0x00000002 (4 B) to BAR0+0x108 (guest access #4711)".</summary>
    public string Describe(string? registerName = null)
    {
        var inv = CultureInfo.InvariantCulture;
        string where = Kind switch
        {
            GuestAccessKind.ConfigRead or GuestAccessKind.ConfigWrite => string.Create(inv, $"config space +0x{Offset:x}"),
            GuestAccessKind.RomRead => string.Create(inv, $"expansion ROM +0x{Offset:x}"),
            GuestAccessKind.Reset => "the function",
            _ => string.Create(inv, $"BAR{Bar}+0x{Offset:x}"),
        };
        if (registerName is { } name && Kind is GuestAccessKind.BarRead or GuestAccessKind.BarWrite)
        {
            where = $"{name} ({where})";
        }

        string digits = (Size is > 0 and <= 8 ? Size * 2 : 16).ToString(inv);
        return Kind switch
        {
            GuestAccessKind.ConfigWrite or GuestAccessKind.BarWrite =>
                string.Create(inv, $"write of 0x{Value.ToString("x" + digits, inv)} ({Size} B) to {where} (guest access #{Sequence})"),
            GuestAccessKind.Reset => string.Create(inv, $"reset of {where} (guest access #{Sequence})"),
            _ => string.Create(inv, $"read of {Size} B at {where} (guest access #{Sequence})"),
        };
    }
}
