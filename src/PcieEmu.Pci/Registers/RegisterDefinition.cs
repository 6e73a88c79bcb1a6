namespace PcieEmu.Pci.Registers;

/// <summary>
/// One register, declared once: where it is, how wide, its reset value and which bits do what.
/// Masks are in register bit positions. <see cref="ReadMask"/> hides write-only bits;
/// <see cref="ImplementedMask"/> is every bit with a meaning (others are reserved: read 0, writes logged).
/// </summary>
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

    public ulong WidthMask => Width == 8 ? ulong.MaxValue : (1UL << (8 * Width)) - 1;
}

/// <summary>A completed guest write: what the register held, what it holds now, and the written lanes.</summary>
public readonly record struct RegisterWrite(RegisterDefinition Register, ulong OldValue, ulong NewValue, ulong Written, ulong LaneMask)
{
    /// <summary>Bits written as 1 in the lanes this access covered.</summary>
    public ulong OnesWritten => Written & LaneMask;

    public bool Rose(ulong bit) => (OldValue & bit) == 0 && (NewValue & bit) != 0;
}

/// <summary>Side effect of a write, run after the masks were applied, under the function lock. Keep it O(1).</summary>
public delegate void RegisterWriteHandler(in RegisterWrite write);

/// <summary>Supplies a register's value at read time (positions, counters); receives the stored value.</summary>
public delegate ulong RegisterReadHandler(RegisterDefinition register, ulong storedValue);
