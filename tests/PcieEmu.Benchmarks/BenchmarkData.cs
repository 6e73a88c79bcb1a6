using System.Buffers.Binary;
using PcieEmu.Devices.Audio;

namespace PcieEmu.Benchmarks;

internal static class BenchmarkData
{
    /// <summary>Seeded noise at up to half full scale, so ±6 dB never saturates much and floats stay normal.</summary>
    public static void FillHalfScale(Span<byte> data, SampleFormat format)
    {
        var rng = new Random(42);
        int size = format.BytesPerSample();
        for (int o = 0; o < data.Length; o += size)
        {
            double x = rng.NextDouble() - 0.5; // −0.5 .. 0.5 of full scale
            Span<byte> sample = data.Slice(o, size);
            switch (format)
            {
                case SampleFormat.S16Le:
                    BinaryPrimitives.WriteInt16LittleEndian(sample, (short)(x * 65536));
                    break;
                case SampleFormat.S24Le:
                    BinaryPrimitives.WriteInt32LittleEndian(sample, (int)(x * (1 << 24)));
                    break;
                case SampleFormat.S32Le:
                    BinaryPrimitives.WriteInt32LittleEndian(sample, (int)(x * 4294967296.0));
                    break;
                default:
                    BinaryPrimitives.WriteSingleLittleEndian(sample, (float)(2 * x));
                    break;
            }
        }
    }
}
