using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PcieEmu.Devices.Common;

/// <summary>
/// The SinkData digest (src/PcieEmu.Tracing/TRACE-FORMAT.md): FNV-1a's 64-bit offset basis and prime applied to
/// 8-byte little-endian words in four lanes — word i goes to lane i mod 4 — then the lanes folded in order (lane 0,
/// then lanes 1, 2, 3 each xored in and multiplied), then the remaining bytes one at a time. A trace keeps the hash of
/// what a sink received, not the bytes. Four independent lanes let the CPU overlap the multiplies: the digest of a
/// 32-channel 192 kHz stream costs a quarter of a single-lane FNV's (which was the replay's largest single cost).
/// </summary>
internal static class Fnv1a64
{
    public const ulong OffsetBasis = 0xCBF29CE484222325;
    public const ulong Prime = 0x00000100000001B3;

    // Fully optimised from the first call: a replay is seconds long, and a hot loop left in tier-0 code until
    // on-stack replacement cost it a third of its time.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static ulong Hash(ReadOnlySpan<byte> data)
    {
        ulong l0 = OffsetBasis, l1 = OffsetBasis, l2 = OffsetBasis, l3 = OffsetBasis;
        ref byte at = ref MemoryMarshal.GetReference(data);
        nint words = data.Length / 8;
        nint i = 0;
        for (; i + 4 <= words; i += 4)
        {
            l0 = (l0 ^ Word(ref at, i)) * Prime;
            l1 = (l1 ^ Word(ref at, i + 1)) * Prime;
            l2 = (l2 ^ Word(ref at, i + 2)) * Prime;
            l3 = (l3 ^ Word(ref at, i + 3)) * Prime;
        }

        if (i < words)
        {
            l0 = (l0 ^ Word(ref at, i++)) * Prime;
        }

        if (i < words)
        {
            l1 = (l1 ^ Word(ref at, i++)) * Prime;
        }

        if (i < words)
        {
            l2 = (l2 ^ Word(ref at, i)) * Prime;
        }

        ulong hash = l0;
        hash = (hash ^ l1) * Prime;
        hash = (hash ^ l2) * Prime;
        hash = (hash ^ l3) * Prime;
        foreach (byte b in data[(int)(words * 8)..])
        {
            hash = (hash ^ b) * Prime;
        }

        return hash;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Word(ref byte at, nint index)
    {
        ulong word = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref at, index * 8));
        return BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word);
    }
}
