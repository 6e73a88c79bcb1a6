using System.Globalization;

namespace PcieEmu.Pci.Checking;

/// <summary>What kind of bus access the guest (through the client) made.</summary>
public enum GuestAccessKind : byte
{
    /// <summary>A configuration-space read.</summary>
    ConfigRead = 1,

    /// <summary>A configuration-space write.</summary>
    ConfigWrite = 2,

    /// <summary>A BAR read (<see cref="GuestAccess.Bar"/> says which).</summary>
    BarRead = 3,

    /// <summary>A BAR write.</summary>
    BarWrite = 4,

    /// <summary>An expansion ROM read.</summary>
    RomRead = 5,

    /// <summary>A reset the client asked for (<see cref="GuestAccess.Value"/> is the <see cref="ResetKind"/>).</summary>
    Reset = 6,
}

/// <summary>
/// One guest access to a function: the stimulus a violation is charged to. <paramref name="Sequence"/> counts the
/// function's guest accesses from 1 (the n-th access since the function was built), so two reports can be ordered and
/// matched with a trace; <paramref name="Value"/> is the value written (the first 8 bytes of a longer write), 0 for reads.
/// </summary>
/// <param name="Kind">What the access was.</param>
/// <param name="Bar">The BAR of a BAR access; 0 otherwise.</param>
/// <param name="Offset">Byte offset in configuration space, the BAR or the ROM.</param>
/// <param name="Size">Bytes accessed.</param>
/// <param name="Value">The value written, little-endian; 0 for reads.</param>
/// <param name="Sequence">The access's number among the function's guest accesses, from 1.</param>
/// <param name="DeviceNanoseconds">Device time when the access began.</param>
public readonly record struct GuestAccess(
    GuestAccessKind Kind, int Bar, ulong Offset, int Size, ulong Value, long Sequence, long DeviceNanoseconds)
{
    /// <summary>The access in words: "write of 0x00000002 (4 B) to BAR0+0x108 (guest access #4711)".</summary>
    /// <param name="registerName">The register a BAR access hit, named before the address when given.</param>
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
