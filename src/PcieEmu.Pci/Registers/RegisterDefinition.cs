namespace PcieEmu.Pci.Registers;

/// <summary>
/// One register, declared once: where it is, how wide, its reset value and which bits do what.
/// Masks are in register bit positions. <see cref="ReadMask"/> hides write-only bits;
/// <see cref="ImplementedMask"/> is every bit with a meaning (others are reserved: read 0, writes logged).
/// Declare each register once and hand it to <see cref="RegisterBank.Define"/>, which validates it.
/// </summary>
/// <param name="Name">The register's name as the device's spec gives it ("INTSTS"); reports and logs use it.</param>
/// <param name="Offset">Byte offset in the bank; aligned to <paramref name="Width"/>.</param>
/// <param name="Width">Bytes: 4 or 8.</param>
/// <param name="ResetValue">The value after a bank reset.</param>
/// <param name="ImplementedMask">Bits with a meaning; writing 1 to any other bit is reported as a reserved-bit write.</param>
/// <param name="WritableMask">Bits a guest write sets to the written value.</param>
/// <param name="W1cMask">Bits a guest write of 1 clears (write-1-to-clear); disjoint from <paramref name="WritableMask"/>.</param>
/// <param name="ReadMask">Bits a guest read returns; the others read 0 (write-only bits).</param>
/// <param name="ReadClearMask">Bits that clear after a guest read returned them.</param>
/// <param name="OnWrite">Side effect after a guest write, or null.</param>
/// <param name="OnRead">Supplies the value at read time, or null for the stored value.</param>
/// <param name="Doc">One line of meaning, for tools (the register map's description).</param>
public sealed record RegisterDefinition(
    string Name,
    uint Offset,
    int Width,
    ulong ResetValue,
    ulong ImplementedMask,
    ulong WritableMask,
    ulong W1cMask,
    ulong ReadMask,
    ulong ReadClearMask = 0,
    RegisterWriteHandler? OnWrite = null,
    RegisterReadHandler? OnRead = null,
    string Doc = "")
{
    /// <summary>A plain read/write register with every bit implemented.</summary>
    public static RegisterDefinition ReadWrite(string name, uint offset, int width = 4, ulong reset = 0, RegisterWriteHandler? onWrite = null)
    {
        ulong all = width == 8 ? ulong.MaxValue : (1UL << (8 * width)) - 1;
        return new(name, offset, width, reset, all, all, 0, all, OnWrite: onWrite);
    }

    /// <summary>A read-only register with every bit implemented.</summary>
    public static RegisterDefinition ReadOnly(string name, uint offset, ulong value, int width = 4, RegisterReadHandler? onRead = null)
    {
        ulong all = width == 8 ? ulong.MaxValue : (1UL << (8 * width)) - 1;
        return new(name, offset, width, value, all, 0, 0, all, OnRead: onRead);
    }

    /// <summary>All-ones over the register's <see cref="Width"/>.</summary>
    public ulong WidthMask => Width == 8 ? ulong.MaxValue : (1UL << (8 * Width)) - 1;
}

/// <summary>A completed guest write: what the register held, what it holds now, and the written lanes.</summary>
/// <param name="Register">The register written.</param>
/// <param name="OldValue">Its stored value before the write.</param>
/// <param name="NewValue">Its stored value after the masks applied (a handler may still change it with <see cref="RegisterBank.Set"/>).</param>
/// <param name="Written">The value the guest wrote, shifted to register bit positions (bits outside <paramref name="LaneMask"/> are 0).</param>
/// <param name="LaneMask">All-ones over the bytes the access covered, in register bit positions.</param>
public readonly record struct RegisterWrite(RegisterDefinition Register, ulong OldValue, ulong NewValue, ulong Written, ulong LaneMask)
{
    /// <summary>Bits written as 1 in the lanes this access covered.</summary>
    public ulong OnesWritten => Written & LaneMask;

    /// <summary>True when <paramref name="bit"/> went from 0 to 1 in this write (for a mask: none of its bits was set before, and one is now).</summary>
    public bool Rose(ulong bit) => (OldValue & bit) == 0 && (NewValue & bit) != 0;
}

/// <summary>Side effect of a write, run after the masks were applied, under the function lock. Keep it O(1).</summary>
public delegate void RegisterWriteHandler(in RegisterWrite write);

/// <summary>Supplies a register's value at read time (positions, counters); receives the stored value.</summary>
public delegate ulong RegisterReadHandler(RegisterDefinition register, ulong storedValue);
