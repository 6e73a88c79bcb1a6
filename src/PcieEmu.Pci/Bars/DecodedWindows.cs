using PcieEmu.Pci.Config;

namespace PcieEmu.Pci.Bars;

/// <summary>
/// The address ranges a function decodes: its memory BARs and an enabled ROM, while memory decode is on. A device
/// DMA that hits one is refused (no peer-to-peer into ourselves: QEMU intel-hda's re-entrancy reproducer). Lookups
/// are lock-free over an immutable array that recomputing replaces (after COMMAND, BAR or ROM BAR writes and resets).
/// </summary>
internal sealed class DecodedWindows
{
    private volatile Window[] _windows = [];

    /// <summary>Re-reads the windows from configuration space. A BAR at address 0 counts as unassigned: firmware never places one there.</summary>
    public void Recompute(ConfigSpace config, IReadOnlyList<PciBar?> bars, ExpansionRom? rom)
    {
        var cmd = (PciCommand)config.Get16(PciConfigRegisters.Command);
        var windows = new List<Window>();
        foreach (var b in bars)
        {
            if (b is null || !b.IsMemory || (cmd & PciCommand.MemorySpace) == 0)
            {
                continue;
            }

            int reg = PciConfigRegisters.BarOffset(b.Index);
            ulong address = config.Get32(reg) & ~0xFUL;
            if (b.Is64Bit)
            {
                address |= (ulong)config.Get32(reg + 4) << 32;
            }

            if (address != 0)
            {
                windows.Add(new Window(address, b.Size));
            }
        }

        uint romBar = config.Get32(PciConfigRegisters.ExpansionRom);
        if (rom is not null && (cmd & PciCommand.MemorySpace) != 0 && (romBar & 1) != 0 && (romBar & ~0x7FFu) != 0)
        {
            windows.Add(new Window(romBar & ~0x7FFu, rom.Size));
        }

        _windows = [.. windows];
    }

    public bool Hits(ulong address, ulong length)
    {
        if (length == 0)
        {
            return false;
        }

        ulong last = length - 1 > ulong.MaxValue - address ? ulong.MaxValue : address + (length - 1);
        foreach (var w in _windows)
        {
            if (address <= w.Last && w.Base <= last)
            {
                return true;
            }
        }

        return false;
    }

    private readonly record struct Window(ulong Base, ulong Size)
    {
        public ulong Last => Base + (Size - 1);
    }
}
