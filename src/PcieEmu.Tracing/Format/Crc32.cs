using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;

namespace PcieEmu.Tracing.Format;

/// <summary>
/// CRC-32C (Castagnoli, reflected, as iSCSI/ext4): each trace chunk carries one, so corruption is named instead of
/// replayed. Castagnoli because x86 computes it in hardware (SSE4.2 crc32, 8 bytes per instruction): at streaming
/// rates the writer thread checksums tens of MB/s. <see cref="ComputeScalar"/> is the reference the hardware
/// path must equal (tests).
/// </summary>
internal static class Crc32
{
    private const uint Polynomial = 0x82F6_3B78;
    private static readonly uint[] Table = BuildTable();

    // Fully optimised from the first call: a replay is seconds long, and a hot loop left in tier-0 code until
    // on-stack replacement cost it a third of its time.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        if (!Sse42.X64.IsSupported)
        {
            return ComputeScalar(data);
        }

        ulong crc = 0xFFFF_FFFF;
        ref byte at = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(data);
        nint offset = 0;
        nint length = data.Length;

        // Three blocks at a time, each its own chain: crc32 has a 3-cycle latency and a 1-cycle throughput, so three
        // independent chains run three times as fast as one. The chains are then joined by the CRC's linearity:
        // crc(r, A‖B‖C) = shift(crc(r, A), 2B) ⊕ shift(crc(0, B), B) ⊕ crc(0, C), a shift being a table lookup.
        if (length >= 3 * BlockBytes)
        {
            var shifts = Shifts.Value;
            while (length - offset >= 3 * BlockBytes)
            {
                ulong a = crc, b = 0, c = 0;
                for (nint i = 0; i < BlockBytes; i += 8)
                {
                    a = Sse42.X64.Crc32(a, Word(ref at, offset + i));
                    b = Sse42.X64.Crc32(b, Word(ref at, offset + BlockBytes + i));
                    c = Sse42.X64.Crc32(c, Word(ref at, offset + (2 * BlockBytes) + i));
                }

                crc = shifts.TwoBlocks.Apply((uint)a) ^ shifts.OneBlock.Apply((uint)b) ^ (uint)c;
                offset += 3 * BlockBytes;
            }
        }

        for (; offset + 8 <= length; offset += 8)
        {
            crc = Sse42.X64.Crc32(crc, Word(ref at, offset));
        }

        uint r = (uint)crc;
        foreach (byte b in data[(int)offset..])
        {
            r = Sse42.Crc32(r, b);
        }

        return ~r;
    }

    /// <summary>Bytes per block of the three-chain loop (a multiple of 8).</summary>
    private const int BlockBytes = 4096;

    private static readonly Lazy<(ShiftTable OneBlock, ShiftTable TwoBlocks)> Shifts =
        new(() => (ShiftTable.For(BlockBytes), ShiftTable.For(2 * BlockBytes)));

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static ulong Word(ref byte at, nint offset)
    {
        ulong w = System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ulong>(ref System.Runtime.CompilerServices.Unsafe.Add(ref at, offset));
        return BitConverter.IsLittleEndian ? w : BinaryPrimitives.ReverseEndianness(w);
    }

    /// <summary>
    /// The CRC register after <c>n</c> zero bytes, as a linear map of the register: one table per register byte (the
    /// map of each byte value in each position, XORed together).
    /// </summary>
    private sealed class ShiftTable
    {
        private readonly uint[] _table = new uint[4 * 256];

        public static ShiftTable For(int zeroBytes)
        {
            var t = new ShiftTable();
            for (int k = 0; k < 4; k++)
            {
                for (uint v = 0; v < 256; v++)
                {
                    ulong r = v << (8 * k);
                    for (int i = 0; i < zeroBytes; i += 8)
                    {
                        r = Sse42.X64.Crc32(r, 0UL);
                    }

                    t._table[(k * 256) + (int)v] = (uint)r;
                }
            }

            return t;
        }

        public uint Apply(uint r) =>
            _table[r & 0xFF] ^ _table[256 + ((r >> 8) & 0xFF)] ^ _table[512 + ((r >> 16) & 0xFF)] ^ _table[768 + (r >> 24)];
    }

    public static uint ComputeScalar(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFF_FFFF;
        foreach (byte b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? Polynomial ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
