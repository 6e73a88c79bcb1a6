using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Devices.Common;

namespace PcieEmu.Devices.Tests;

/// <summary>The device layer's shared pieces: the FNV-1a digests.</summary>
public sealed class CommonTests
{
    // ------------------------------------------------------------------ FNV-1a

    [Theory]
    [InlineData("", 0x811C9DC5u)]
    [InlineData("a", 0xE40C292Cu)]
    [InlineData("foobar", 0xBF9CF968u)]
    public void Fnv1a_matches_the_published_test_vectors(string text, uint expected)
    {
        Fnv1a.Hash(Encoding.ASCII.GetBytes(text)).Should().Be(expected);
    }

    [Fact]
    public void Fnv1a_constants_are_the_32_bit_parameters()
    {
        Fnv1a.OffsetBasis.Should().Be(0x811C9DC5u);
        Fnv1a.Prime.Should().Be(0x01000193u);
    }

    [Fact]
    public void Fnv1a_append_continues_a_hash_across_chunks()
    {
        byte[] data = Reference.Noise(10_000, 11);
        uint whole = Fnv1a.Hash(data);

        uint h = Fnv1a.OffsetBasis;
        foreach (var chunk in data.Chunk(333))
        {
            h = Fnv1a.Append(h, chunk);
        }

        h.Should().Be(whole);
        whole.Should().Be(Reference.Fnv1a(data));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(56)]
    [InlineData(4099)]
    public void The_sink_digest_is_four_lane_fnv1a_as_the_trace_format_defines(int length)
    {
        var data = Enumerable.Range(0, length).Select(i => (byte)((i * 131) + 7)).ToArray();

        Fnv1a64.Hash(data).Should().Be(Reference(data));

        // TRACE-FORMAT.md, SinkData: word i to lane i mod 4, lanes folded in order, then the tail bytes.
        static ulong Reference(byte[] d)
        {
            var lanes = new[] { Fnv1a64.OffsetBasis, Fnv1a64.OffsetBasis, Fnv1a64.OffsetBasis, Fnv1a64.OffsetBasis };
            int words = d.Length / 8;
            for (int i = 0; i < words; i++)
            {
                lanes[i % 4] = (lanes[i % 4] ^ BitConverter.ToUInt64(d, i * 8)) * Fnv1a64.Prime;
            }

            ulong h = lanes[0];
            for (int k = 1; k < 4; k++)
            {
                h = (h ^ lanes[k]) * Fnv1a64.Prime;
            }

            for (int i = words * 8; i < d.Length; i++)
            {
                h = (h ^ d[i]) * Fnv1a64.Prime;
            }

            return h;
        }
    }
}
