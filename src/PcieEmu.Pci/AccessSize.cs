namespace PcieEmu.Pci;

/// <summary>A bus access width. Closed: anything else is rejected at the protocol edge.</summary>
public enum AccessSize
{
    Byte = 1,
    Word = 2,
    Dword = 4,
    Qword = 8,
}

/// <summary>The set of access widths a BAR's handler implements natively.</summary>
[Flags]
public enum AccessSizes
{
    None = 0,
    Byte = 1,
    Word = 2,
    Dword = 4,
    Qword = 8,
    All = Byte | Word | Dword | Qword,
    DwordAndQword = Dword | Qword,
}

public static class AccessSizeExtensions
{
    public static int Bytes(this AccessSize size) => (int)size;

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
