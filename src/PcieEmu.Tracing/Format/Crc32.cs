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

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        if (!Sse42.X64.IsSupported)
        {
            return ComputeScalar(data);
        }

        ulong crc = 0xFFFF_FFFF;
        ref byte at = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(data);
        nint words = data.Length / 8;
        for (nint i = 0; i < words; i++)
        {
            crc = Sse42.X64.Crc32(crc, System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ulong>(ref System.Runtime.CompilerServices.Unsafe.Add(ref at, i * 8)));
        }

        uint c = (uint)crc;
        foreach (byte b in data[(int)(words * 8)..])
        {
            c = Sse42.Crc32(c, b);
        }

        return ~c;
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
