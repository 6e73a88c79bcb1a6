using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Devices.Common;

namespace PcieEmu.Devices.Tests;

/// <summary>The device layer's shared pieces: the violation record and the FNV-1a digests.</summary>
public sealed class CommonTests
{
    // ------------------------------------------------------------------ DriverRuleViolations

    [Fact]
    public void Violations_start_empty()
    {
        var v = new DriverRuleViolations();
        v.Count.Should().Be(0);
        v.Snapshot().Should().BeEmpty();
    }

    [Fact]
    public void Violations_keep_rule_detail_and_time_in_order()
    {
        var v = new DriverRuleViolations();
        var before = DateTimeOffset.UtcNow;

        v.Record("RuleA", "first");
        v.Record("RuleB", "second");

        v.Count.Should().Be(2);
        var items = v.Snapshot();
        items.Select(i => (i.Rule, i.Detail)).Should().Equal(("RuleA", "first"), ("RuleB", "second"));
        items.Should().OnlyContain(i => i.Time >= before && i.Time <= DateTimeOffset.UtcNow);
    }

    [Fact]
    public void Violations_keep_the_first_thousand_and_count_all()
    {
        var v = new DriverRuleViolations();

        for (int i = 0; i < 1500; i++)
        {
            v.Record("R", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        v.Count.Should().Be(1500);
        var kept = v.Snapshot();
        kept.Should().HaveCount(1000);
        kept[0].Detail.Should().Be("0");
        kept[^1].Detail.Should().Be("999");
    }

    [Fact]
    public void Violation_snapshots_are_copies()
    {
        var v = new DriverRuleViolations();
        v.Record("R", "1");
        var snapshot = v.Snapshot();

        v.Record("R", "2");

        snapshot.Should().HaveCount(1);
        v.Snapshot().Should().HaveCount(2);
    }

    [Fact]
    public void Every_recorded_violation_is_announced()
    {
        var v = new DriverRuleViolations();
        var seen = new List<string>();
        v.Recorded += x => seen.Add(x.Rule);

        for (int i = 0; i < 1002; i++)
        {
            v.Record($"R{i}", "d");
        }

        seen.Should().HaveCount(1002, "the bound limits what is kept, not what is announced");
        seen[^1].Should().Be("R1001");
    }

    [Fact]
    public void Violations_from_many_threads_are_all_counted()
    {
        var v = new DriverRuleViolations();

        Parallel.For(0, 8, t =>
        {
            for (int i = 0; i < 500; i++)
            {
                v.Record($"T{t}", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        });

        v.Count.Should().Be(4000);
        v.Snapshot().Should().HaveCount(1000);
    }

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
