using System.Buffers.Binary;
using PcieEmu.Devices.Audio;

namespace PcieEmu.Devices.Tests.Audio.Dsp;

/// <summary>Sample buffers for the DSP tests: raw container values in and out, and seeded random data.</summary>
internal static class DspTestData
{
    public static readonly SampleFormat[] Formats = [SampleFormat.S16Le, SampleFormat.S24Le, SampleFormat.S32Le, SampleFormat.FloatLe];

    /// <summary>Raw container values (S16 uses the low 16 bits; FLOAT_LE the IEEE bits), little-endian.</summary>
    public static byte[] Encode(SampleFormat format, params uint[] raw)
    {
        int size = format.BytesPerSample();
        var bytes = new byte[raw.Length * size];
        for (int i = 0; i < raw.Length; i++)
        {
            Write(bytes.AsSpan(i * size, size), format, raw[i]);
        }

        return bytes;
    }

    public static byte[] EncodeS16(params short[] values) => Encode(SampleFormat.S16Le, [.. values.Select(v => (uint)(ushort)v)]);

    public static byte[] EncodeS32(SampleFormat format, params int[] values) => Encode(format, [.. values.Select(v => (uint)v)]);

    public static byte[] EncodeFloat(params float[] values) =>
        Encode(SampleFormat.FloatLe, [.. values.Select(BitConverter.SingleToUInt32Bits)]);

    public static uint[] Decode(SampleFormat format, ReadOnlySpan<byte> bytes)
    {
        int size = format.BytesPerSample();
        var raw = new uint[bytes.Length / size];
        for (int i = 0; i < raw.Length; i++)
        {
            raw[i] = Read(bytes.Slice(i * size, size), format);
        }

        return raw;
    }

    public static short[] DecodeS16(ReadOnlySpan<byte> bytes) => [.. Decode(SampleFormat.S16Le, bytes).Select(r => (short)r)];

    public static int[] DecodeS32(SampleFormat format, ReadOnlySpan<byte> bytes) => [.. Decode(format, bytes).Select(r => (int)r)];

    public static uint Read(ReadOnlySpan<byte> sample, SampleFormat format) => format == SampleFormat.S16Le
        ? BinaryPrimitives.ReadUInt16LittleEndian(sample)
        : BinaryPrimitives.ReadUInt32LittleEndian(sample);

    public static void Write(Span<byte> sample, SampleFormat format, uint raw)
    {
        if (format == SampleFormat.S16Le)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(sample, (ushort)raw);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(sample, raw);
        }
    }

    private static readonly uint[] S16Edges = [0x8000, 0x7FFF, 0, 1, 0xFFFF, 0x4000, 0xC000, 5, 15, 25, 0xFFFB, 0xFFF1];

    // Bits 23:0 only; the top byte is garbage added at random (the stage ignores it on input).
    private static readonly uint[] S24Edges = [0x800000, 0x7FFFFF, 0, 1, 0xFFFFFF, 0x400000, 0xC00000, 5, 15, 25, 0xFFFFFB];

    private static readonly uint[] S32Edges = [0x80000000, 0x7FFFFFFF, 0, 1, 0xFFFFFFFF, 0x40000000, 0xC0000000, 5, 15, 25, 0xFFFFFFFB];

    private static readonly uint[] FloatEdges =
    [
        0x00000000, 0x80000000, // ±0
        0x00000001, 0x80000001, 0x00400000, 0x807FFFFF, // subnormals
        0x00800000, 0x80800000, // smallest normals
        0x7F7FFFFF, 0xFF7FFFFF, 0x7149F2CA, 0xF149F2CA, // ±MaxValue, ±1e30
        0x7F800000, 0xFF800000, // ±Inf
        0x7FC00000, 0xFFC12345, 0x7FFFFFFF, // quiet NaNs with payloads
        0x7F800001, 0xFFA00000, 0x7FBFFFFF, // signalling NaNs
        0x3F800000, 0xBF800000, 0x3F000000, 0x3DCCCCCD, // 1, −1, 0.5, 0.1
    ];

    /// <summary>Random samples: a quarter from the edge lists, the rest random over the whole range.</summary>
    public static void FillRandom(Random rng, Span<byte> data, SampleFormat format)
    {
        int size = format.BytesPerSample();
        for (int o = 0; o < data.Length; o += size)
        {
            Write(data.Slice(o, size), format, RandomRaw(rng, format));
        }
    }

    public static uint RandomRaw(Random rng, SampleFormat format)
    {
        bool edge = rng.Next(4) == 0;
        uint bits = (uint)rng.NextInt64(0, 1L << 32);
        switch (format)
        {
            case SampleFormat.S16Le:
                return edge ? S16Edges[rng.Next(S16Edges.Length)] : bits & 0xFFFF;
            case SampleFormat.S24Le:
                uint top = rng.Next(2) == 0 ? bits & 0xFF000000 : 0; // garbage in bits 31:24 half the time
                uint low = edge ? S24Edges[rng.Next(S24Edges.Length)] : (uint)rng.Next(1 << 24);
                return top | low;
            case SampleFormat.S32Le:
                return edge ? S32Edges[rng.Next(S32Edges.Length)] : bits;
            default:
                if (edge)
                {
                    return FloatEdges[rng.Next(FloatEdges.Length)];
                }

                return rng.Next(2) == 0 ? bits : BitConverter.SingleToUInt32Bits((float)((rng.NextDouble() * 2) - 1));
        }
    }

    /// <summary>
    /// Gains for <paramref name="count"/> entries: random levels 0..255 with the interesting ones (unity, the
    /// tie-producing −20 dB and −40 dB, the extremes) over-represented, and mutes.
    /// </summary>
    public static ChannelGain[] RandomGains(Random rng, int count)
    {
        ReadOnlySpan<byte> special = [192, 192, 152, 112, 180, 0, 255, 191, 193, 232];
        var gains = new ChannelGain[count];
        for (int c = 0; c < count; c++)
        {
            byte level = rng.Next(3) == 0 ? special[rng.Next(special.Length)] : (byte)rng.Next(256);
            gains[c] = new ChannelGain(level, rng.Next(8) == 0);
        }

        return gains;
    }

    public static string Hex(uint raw, SampleFormat format) =>
        format == SampleFormat.S16Le ? $"0x{raw:X4}" : $"0x{raw:X8}";
}
