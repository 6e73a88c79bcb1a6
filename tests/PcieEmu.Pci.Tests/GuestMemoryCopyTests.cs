using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Tests;

/// <summary>The vector copy used for pinned guest memory equals <see cref="Span{T}.CopyTo"/>, its reference, byte for byte.</summary>
public unsafe class GuestMemoryCopyTests
{
    public delegate void CopyKernel(byte* source, byte* destination, int count);

    /// <summary>Every path, whichever one this host's <see cref="GuestMemoryCopy.Copy"/> picks: each must equal CopyTo.</summary>
    public static TheoryData<string, int> Kernels => new()
    {
        { nameof(GuestMemoryCopy.Copy), 0 },
        { nameof(GuestMemoryCopy.CopyVector512), 256 },
        { nameof(GuestMemoryCopy.CopyVector256), 128 },
    };

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Every_length_and_misalignment_copies_exactly_what_CopyTo_copies_and_nothing_around_it(string kernel, int minimum)
    {
        CopyKernel copy = kernel switch
        {
            nameof(GuestMemoryCopy.CopyVector512) => GuestMemoryCopy.CopyVector512,
            nameof(GuestMemoryCopy.CopyVector256) => GuestMemoryCopy.CopyVector256,
            _ => GuestMemoryCopy.Copy,
        };
        var rng = new Random(11);
        var source = new byte[GuestMemoryCopy.StringThreshold + 10_000];
        rng.NextBytes(source);
        var expected = new byte[source.Length + 200];
        var actual = new byte[source.Length + 200];
        int[] lengths =
        [
            .. Enumerable.Range(0, 300), 383, 384, 385, 511, 512, 513, 1000, 2047, 2048, 2049, 4095, 4096, 4097, 8191, 8192, 9_999,
            GuestMemoryCopy.StringThreshold - 1, GuestMemoryCopy.StringThreshold, GuestMemoryCopy.StringThreshold + 4097,
        ];
        foreach (int length in lengths.Where(l => l >= minimum))
        {
            foreach (int skew in new[] { 0, 1, 7, 31, 33, 63 })
            {
                Array.Fill(expected, (byte)0x5A);
                Array.Fill(actual, (byte)0x5A);
                int from = (skew * 3) % (source.Length - length + 1);
                source.AsSpan(from, length).CopyTo(expected.AsSpan(skew + 50, length));
                fixed (byte* s = source)
                fixed (byte* d = actual)
                {
                    copy(s + from, d + skew + 50, length);
                }

                actual.AsSpan().SequenceEqual(expected).Should().BeTrue($"{kernel}, length {length}, skew {skew}");
            }
        }
    }

    [Theory]
    [InlineData(100)]
    [InlineData(-100)]
    [InlineData(1)]
    [InlineData(-1)]
    public void Overlapping_ranges_copy_as_memmove_does(int shift)
    {
        var buffer = new byte[8192];
        new Random(12).NextBytes(buffer);
        var expected = (byte[])buffer.Clone();
        expected.AsSpan(1000, 4096).CopyTo(expected.AsSpan(1000 + shift, 4096));
        fixed (byte* b = buffer)
        {
            GuestMemoryCopy.Copy(b + 1000, b + 1000 + shift, 4096);
        }

        buffer.Should().Equal(expected);
    }
}
