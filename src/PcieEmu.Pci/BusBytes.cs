namespace PcieEmu.Pci;

/// <summary>The bytes of a bus access (1–8 of them) as the little-endian value they carry, and back.</summary>
internal static class BusBytes
{
    public static void Store(Span<byte> piece, ulong value)
    {
        for (int i = 0; i < piece.Length; i++)
        {
            piece[i] = (byte)(value >> (8 * i));
        }
    }

    public static ulong Load(ReadOnlySpan<byte> piece)
    {
        ulong v = 0;
        for (int i = 0; i < piece.Length; i++)
        {
            v |= (ulong)piece[i] << (8 * i);
        }

        return v;
    }
}
