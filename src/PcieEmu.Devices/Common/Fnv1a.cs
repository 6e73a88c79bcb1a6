namespace PcieEmu.Devices.Common;

/// <summary>32-bit FNV-1a, the hash the diagnostic DMA engine reports (audio card spec §6.2).</summary>
internal static class Fnv1a
{
    public const uint OffsetBasis = 0x811C9DC5;
    public const uint Prime = 0x01000193;

    public static uint Append(uint hash, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            hash = (hash ^ b) * Prime;
        }

        return hash;
    }

    public static uint Hash(ReadOnlySpan<byte> data) => Append(OffsetBasis, data);
}
