namespace PcieEmu.Pci;

/// <summary>A bus access width. Closed: anything else is rejected at the protocol edge.</summary>
public enum AccessSize
{
    /// <summary>1 byte.</summary>
    Byte = 1,

    /// <summary>2 bytes.</summary>
    Word = 2,

    /// <summary>4 bytes.</summary>
    Dword = 4,

    /// <summary>8 bytes.</summary>
    Qword = 8,
}

/// <summary>
/// The set of access widths a BAR's handler implements natively. The function splits any other access into the
/// widest naturally aligned pieces of this set (an 8-byte read of a <see cref="Dword"/> BAR becomes two 4-byte
/// reads); a piece no width fits is refused (a read returns all-ones, a write is dropped, both logged).
/// </summary>
[Flags]
public enum AccessSizes
{
    /// <summary>No width: every access is refused.</summary>
    None = 0,

    /// <summary>1-byte accesses.</summary>
    Byte = 1,

    /// <summary>2-byte accesses.</summary>
    Word = 2,

    /// <summary>4-byte accesses.</summary>
    Dword = 4,

    /// <summary>8-byte accesses.</summary>
    Qword = 8,

    /// <summary>Every width: the handler takes each access as it comes.</summary>
    All = Byte | Word | Dword | Qword,

    /// <summary>4- and 8-byte accesses: a register file of 32- and 64-bit registers (narrower accesses are refused).</summary>
    DwordAndQword = Dword | Qword,
}

/// <summary>Width arithmetic for the bus path.</summary>
internal static class AccessSizeExtensions
{
    public static int Bytes(this AccessSize size) => (int)size;

    /// <summary>All-ones in the low <paramref name="size"/> bytes.</summary>
    public static ulong Mask(this AccessSize size) => size == AccessSize.Qword ? ulong.MaxValue : (1UL << (8 * (int)size)) - 1;

    public static bool TryFromBytes(int bytes, out AccessSize size)
    {
        size = (AccessSize)bytes;
        return bytes is 1 or 2 or 4 or 8;
    }

    public static bool Contains(this AccessSizes set, AccessSize size) => ((int)set & (int)size) != 0;

    /// <summary>
    /// The widest access in <paramref name="supported"/> that fits in <paramref name="remaining"/> bytes and is
    /// naturally aligned at <paramref name="offset"/>; false when none is (the access is then refused).
    /// </summary>
    public static bool TryPickSplit(this AccessSizes supported, ulong offset, int remaining, out AccessSize size)
    {
        for (int bytes = 8; bytes >= 1; bytes >>= 1)
        {
            if (bytes <= remaining && (offset & (ulong)(bytes - 1)) == 0 && ((int)supported & bytes) != 0)
            {
                size = (AccessSize)bytes;
                return true;
            }
        }

        size = default;
        return false;
    }
}
