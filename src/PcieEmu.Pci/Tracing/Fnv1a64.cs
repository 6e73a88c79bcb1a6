namespace PcieEmu.Pci.Tracing;

/// <summary>64-bit FNV-1a: the SinkData digest (a trace keeps sink bytes' hash, not the bytes).</summary>
public static class Fnv1a64
{
    public const ulong OffsetBasis = 0xCBF29CE484222325;
    public const ulong Prime = 0x00000100000001B3;

    public static ulong Hash(ReadOnlySpan<byte> data)
    {
        ulong hash = OffsetBasis;
        foreach (byte b in data)
        {
            hash = (hash ^ b) * Prime;
        }

        return hash;
    }
}
