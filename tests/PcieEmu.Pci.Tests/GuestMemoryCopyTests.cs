using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Tests;

/// <summary>The vector copy used for pinned guest memory equals <see cref="Span{T}.CopyTo"/>, its reference, byte for byte.</summary>
public unsafe class GuestMemoryCopyTests
{
    [Fact]
    public void Every_length_and_misalignment_copies_exactly_what_CopyTo_copies_and_nothing_around_it()
    {
        var rng = new Random(11);
        var source = new byte[10_000];
        rng.NextBytes(source);
        var expected = new byte[10_200];
        var actual = new byte[10_200];
        int[] lengths = [.. Enumerable.Range(0, 300), 383, 384, 385, 1000, 2047, 2048, 2049, 4095, 4096, 4097, 8191, 8192, 9_999];
        foreach (int length in lengths)
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
                    GuestMemoryCopy.Copy(s + from, d + skew + 50, length);
                }

                actual.AsSpan().SequenceEqual(expected).Should().BeTrue($"length {length}, skew {skew}");
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
