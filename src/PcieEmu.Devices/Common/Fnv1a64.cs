using System.Buffers.Binary;

namespace PcieEmu.Devices.Common;

/// <summary>
/// The SinkData digest: FNV-1a's 64-bit offset basis and prime applied to 8-byte little-endian words, then to
/// the remaining bytes one at a time. A trace keeps the hash of what a sink received, not the bytes; word steps
/// keep hashing at streaming rates cheap (byte-wise FNV cost the engine a tenth of its time on the pro card).
/// </summary>
public static class Fnv1a64
{
    public const ulong OffsetBasis = 0xCBF29CE484222325;
    public const ulong Prime = 0x00000100000001B3;

    public static ulong Hash(ReadOnlySpan<byte> data)
    {
        ulong hash = OffsetBasis;
        ref byte at = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(data);
        nint words = data.Length / 8;
        for (nint i = 0; i < words; i++)
        {
            ulong word = System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ulong>(ref System.Runtime.CompilerServices.Unsafe.Add(ref at, i * 8));
            hash = (hash ^ (BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word))) * Prime;
        }

        data = data[(int)(words * 8)..];
        foreach (byte b in data)
        {
            hash = (hash ^ b) * Prime;
        }

        return hash;
    }
}
