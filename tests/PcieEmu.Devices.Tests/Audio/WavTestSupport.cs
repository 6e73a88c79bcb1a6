using System.Buffers.Binary;
using System.Text;
using PcieEmu.Devices.Audio;

namespace PcieEmu.Devices.Tests.Audio.Wav;

/// <summary>Packing and unpacking little-endian samples, and deterministic valid sample data.</summary>
internal static class Samples
{
    public static byte[] S16(params short[] values)
    {
        var b = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(2 * i), values[i]);
        }

        return b;
    }

    public static byte[] I32(params int[] values)
    {
        var b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4 * i), values[i]);
        }

        return b;
    }

    public static byte[] F32(params float[] values)
    {
        var b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), values[i]);
        }

        return b;
    }

    /// <summary>Packed 3-byte little-endian samples.</summary>
    public static byte[] S24Packed(params int[] values)
    {
        var b = new byte[values.Length * 3];
        for (int i = 0; i < values.Length; i++)
        {
            b[3 * i] = (byte)values[i];
            b[(3 * i) + 1] = (byte)(values[i] >> 8);
            b[(3 * i) + 2] = (byte)(values[i] >> 16);
        }

        return b;
    }

    public static short[] ToS16(ReadOnlySpan<byte> b)
    {
        var v = new short[b.Length / 2];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = BinaryPrimitives.ReadInt16LittleEndian(b[(2 * i)..]);
        }

        return v;
    }

    public static int[] ToI32(ReadOnlySpan<byte> b)
    {
        var v = new int[b.Length / 4];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = BinaryPrimitives.ReadInt32LittleEndian(b[(4 * i)..]);
        }

        return v;
    }

    public static float[] ToF32(ReadOnlySpan<byte> b)
    {
        var v = new float[b.Length / 4];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = BinaryPrimitives.ReadSingleLittleEndian(b[(4 * i)..]);
        }

        return v;
    }

    /// <summary>Random frames a stream can carry: S24 sign-extended, floats finite in −1..1, extremes included.</summary>
    public static byte[] Random(AudioFormat format, int frames, int seed)
    {
        var r = new Random(seed);
        int n = frames * format.Channels;
        return format.Format switch
        {
            SampleFormat.S16Le => S16([.. Enumerable.Range(0, n).Select(i => i switch { 0 => short.MinValue, 1 => short.MaxValue, _ => (short)r.Next(short.MinValue, short.MaxValue + 1) })]),
            SampleFormat.S24Le => I32([.. Enumerable.Range(0, n).Select(i => i switch { 0 => -(1 << 23), 1 => (1 << 23) - 1, _ => r.Next(-(1 << 23), 1 << 23) })]),
            SampleFormat.S32Le => I32([.. Enumerable.Range(0, n).Select(i => i switch { 0 => int.MinValue, 1 => int.MaxValue, _ => r.Next(int.MinValue, int.MaxValue) })]),
            _ => F32([.. Enumerable.Range(0, n).Select(i => i switch { 0 => -1f, 1 => 1f, _ => (float)((r.NextDouble() * 2) - 1) })]),
        };
    }
}

/// <summary>Builds RIFF/WAVE files byte by byte, including broken ones.</summary>
internal sealed class WavBuilder
{
    private readonly List<byte> _bytes = [];
    private uint? _riffSize;

    public static byte[] PcmFmt(ushort tag, ushort channels, uint rate, ushort bits, ushort? blockAlign = null, int size = 16)
    {
        var f = new byte[size];
        ushort align = blockAlign ?? (ushort)(channels * bits / 8);
        BinaryPrimitives.WriteUInt16LittleEndian(f, tag);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(2), channels);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(4), rate);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(8), rate * align);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(12), align);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(14), bits);
        return f;
    }

    /// <summary>A 40-byte WAVE_FORMAT_EXTENSIBLE fmt body with sub-format {subTag}-0000-0010-8000-00AA00389B71.</summary>
    public static byte[] ExtensibleFmt(ushort channels, uint rate, ushort containerBits, ushort validBits, ushort subTag, uint mask = 3, bool standardGuid = true)
    {
        var f = new byte[40];
        PcmFmt(0xFFFE, channels, rate, containerBits).CopyTo(f, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(16), 22);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(18), validBits);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(20), mask);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(24), subTag);
        byte[] tail = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];
        if (!standardGuid)
        {
            tail[^1] = 0x72;
        }

        tail.CopyTo(f, 26);
        return f;
    }

    /// <summary>Sets the RIFF size field (default: the real size).</summary>
    public WavBuilder RiffSize(uint size)
    {
        _riffSize = size;
        return this;
    }

    /// <summary>A chunk; <paramref name="declaredSize"/> overrides the size field; odd bodies get a pad byte.</summary>
    public WavBuilder Chunk(string id, byte[] body, uint? declaredSize = null, bool pad = true)
    {
        _bytes.AddRange(Encoding.ASCII.GetBytes(id));
        var size = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(size, declaredSize ?? (uint)body.Length);
        _bytes.AddRange(size);
        _bytes.AddRange(body);
        if (pad && body.Length % 2 == 1)
        {
            _bytes.Add(0);
        }

        return this;
    }

    public WavBuilder Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public byte[] Build(string riff = "RIFF", string wave = "WAVE")
    {
        var all = new List<byte>(Encoding.ASCII.GetBytes(riff));
        var size = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(size, _riffSize ?? (uint)(_bytes.Count + 4));
        all.AddRange(size);
        all.AddRange(Encoding.ASCII.GetBytes(wave));
        all.AddRange(_bytes);
        return [.. all];
    }
}
