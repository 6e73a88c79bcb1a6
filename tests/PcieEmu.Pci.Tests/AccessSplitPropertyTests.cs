using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Pci.Tests;

/// <summary>
/// Property tests for access splitting (style.md §3.1.7, §4.10): whatever the client asks for, a BAR handler
/// sees only naturally aligned accesses of the widths it declared, and the bytes assemble as if memory were
/// accessed byte by byte. Fixed seeds keep them deterministic.
/// </summary>
public class AccessSplitPropertyTests
{
    private const ulong BarSize = 256;

    public static TheoryData<AccessSizes> SizeSets => new()
    {
        AccessSizes.All,
        AccessSizes.Byte,
        AccessSizes.Byte | AccessSizes.Dword,
        AccessSizes.Word | AccessSizes.Qword,
        AccessSizes.Dword,
        AccessSizes.DwordAndQword,
        AccessSizes.Qword,
    };

    // ------------------------------------------------------------------ TryPickSplit

    [Theory]
    [InlineData(AccessSizes.All, 0UL, 8, true, AccessSize.Qword)]
    [InlineData(AccessSizes.All, 4UL, 8, true, AccessSize.Dword)]
    [InlineData(AccessSizes.All, 6UL, 8, true, AccessSize.Word)]
    [InlineData(AccessSizes.All, 7UL, 8, true, AccessSize.Byte)]
    [InlineData(AccessSizes.All, 0UL, 3, true, AccessSize.Word)]
    [InlineData(AccessSizes.DwordAndQword, 0UL, 6, true, AccessSize.Dword)]
    [InlineData(AccessSizes.DwordAndQword, 2UL, 4, false, default(AccessSize))]
    [InlineData(AccessSizes.DwordAndQword, 0UL, 3, false, default(AccessSize))]
    [InlineData(AccessSizes.Byte, 0UL, 8, true, AccessSize.Byte)]
    [InlineData(AccessSizes.None, 0UL, 8, false, default(AccessSize))]
    [InlineData(AccessSizes.All, 0UL, 0, false, default(AccessSize))]
    public void TryPickSplit_picks_the_widest_aligned_supported_size_that_fits(AccessSizes set, ulong offset, int remaining, bool ok, AccessSize expected)
    {
        set.TryPickSplit(offset, remaining, out var size).Should().Be(ok);
        if (ok)
        {
            size.Should().Be(expected);
        }
    }

    [Fact]
    public void TryPickSplit_property_result_is_aligned_supported_fits_and_maximal()
    {
        var rng = new Random(20240601);
        for (int iter = 0; iter < 5000; iter++)
        {
            var set = (AccessSizes)rng.Next(0, 16);
            ulong offset = (ulong)rng.Next(0, 4096);
            int remaining = rng.Next(0, 20);

            bool ok = set.TryPickSplit(offset, remaining, out var size);

            var candidates = new[] { 1, 2, 4, 8 }
                .Where(b => b <= remaining && offset % (ulong)b == 0 && ((int)set & b) != 0)
                .ToList();
            ok.Should().Be(candidates.Count > 0, $"set {set}, offset {offset}, remaining {remaining}");
            if (ok)
            {
                ((int)size).Should().Be(candidates.Max(), $"set {set}, offset {offset}, remaining {remaining}");
            }
        }
    }

    [Fact]
    public void AccessSize_helpers()
    {
        AccessSize.Byte.Mask().Should().Be(0xFF);
        AccessSize.Word.Mask().Should().Be(0xFFFF);
        AccessSize.Dword.Mask().Should().Be(0xFFFF_FFFF);
        AccessSize.Qword.Mask().Should().Be(ulong.MaxValue);
        AccessSize.Qword.Bytes().Should().Be(8);
        AccessSizeExtensions.TryFromBytes(4, out var s).Should().BeTrue();
        s.Should().Be(AccessSize.Dword);
        AccessSizeExtensions.TryFromBytes(3, out _).Should().BeFalse();
        AccessSizeExtensions.TryFromBytes(16, out _).Should().BeFalse();
        AccessSizes.DwordAndQword.Contains(AccessSize.Word).Should().BeFalse();
        AccessSizes.DwordAndQword.Contains(AccessSize.Qword).Should().BeTrue();
    }

    // ------------------------------------------------------------------ BarRead / BarWrite splitting

    [Theory]
    [MemberData(nameof(SizeSets))]
    public void BarRead_splits_into_aligned_supported_accesses_and_assembles_the_bytes(AccessSizes set)
    {
        var rng = new Random(1234 + (int)set);
        var h = new MemoryHandler(BarSize, set);
        rng.NextBytes(h.Bytes);
        using var f = Functions.Minimal().MemoryBar(0, "r", BarSize, h, set).Build();

        for (int iter = 0; iter < 400; iter++)
        {
            ulong offset = (ulong)rng.Next(0, (int)BarSize);
            int length = rng.Next(1, (int)Math.Min(24, BarSize - offset) + 1);
            var data = new byte[length];
            h.Calls.Clear();

            f.BarRead(0, offset, data);

            string ctx = $"set {set}, read of {length} at 0x{offset:x}";
            h.Violations.Should().BeEmpty(ctx);
            int covered = CheckCoverage(h.Calls, offset, length, ctx);
            data[..covered].Should().Equal(h.Bytes.AsSpan((int)offset, covered).ToArray(), ctx);
            data.Skip(covered).All(b => b == 0xFF).Should().BeTrue(ctx + ": refused bytes read all-ones");
            if (covered < length)
            {
                Splittable(set, offset + (ulong)covered, length - covered).Should().BeFalse(ctx + ": refused only when no width fits");
            }

            if (set.Contains(AccessSize.Byte))
            {
                covered.Should().Be(length, ctx + ": with byte access everything is reachable");
            }
        }
    }

    [Theory]
    [MemberData(nameof(SizeSets))]
    public void BarWrite_splits_into_aligned_supported_accesses_and_lands_the_bytes(AccessSizes set)
    {
        var rng = new Random(4321 + (int)set);
        var h = new MemoryHandler(BarSize, set);
        var model = new byte[BarSize];
        using var f = Functions.Minimal().MemoryBar(0, "r", BarSize, h, set).Build();

        for (int iter = 0; iter < 400; iter++)
        {
            ulong offset = (ulong)rng.Next(0, (int)BarSize);
            int length = rng.Next(1, (int)Math.Min(24, BarSize - offset) + 1);
            var data = new byte[length];
            rng.NextBytes(data);
            h.Calls.Clear();

            f.BarWrite(0, offset, data);

            string ctx = $"set {set}, write of {length} at 0x{offset:x}";
            h.Violations.Should().BeEmpty(ctx);
            int covered = CheckCoverage(h.Calls, offset, length, ctx);
            data.AsSpan(0, covered).CopyTo(model.AsSpan((int)offset));
            h.Bytes.Should().Equal(model, ctx + ": exactly the covered bytes changed");
            if (covered < length)
            {
                Splittable(set, offset + (ulong)covered, length - covered).Should().BeFalse(ctx);
            }
        }
    }

    [Fact]
    public void A_register_bank_behind_a_bar_behaves_like_memory_for_rw_registers_and_all_ones_elsewhere()
    {
        // RW registers at 0x00, 0x04, 0x10 (64-bit) and 0x20; everything else unclaimed.
        var bank = new RegisterBank("b", 0x40, NullLogger.Instance);
        bank.Define(RegisterDefinition.ReadWrite("A", 0x00));
        bank.Define(RegisterDefinition.ReadWrite("B", 0x04));
        bank.Define(RegisterDefinition.ReadWrite("C", 0x10, width: 8));
        bank.Define(RegisterDefinition.ReadWrite("D", 0x20));
        bool Claimed(int i) => i is < 0x08 or (>= 0x10 and < 0x18) or (>= 0x20 and < 0x24);
        var model = new byte[0x40];
        for (int i = 0; i < model.Length; i++)
        {
            model[i] = Claimed(i) ? (byte)0 : (byte)0xFF;
        }

        using var f = Functions.Minimal().MemoryBar(0, "regs", 0x40, bank, AccessSizes.All).Build();
        var rng = new Random(777);
        for (int iter = 0; iter < 2000; iter++)
        {
            ulong offset = (ulong)rng.Next(0, 0x40);
            int length = rng.Next(1, (int)Math.Min(16, 0x40 - offset) + 1);
            string ctx = $"iteration {iter}: {length} B at 0x{offset:x}";
            if (rng.Next(2) == 0)
            {
                var data = new byte[length];
                rng.NextBytes(data);
                f.BarWrite(0, offset, data);
                for (int i = 0; i < length; i++)
                {
                    if (Claimed((int)offset + i))
                    {
                        model[(int)offset + i] = data[i];
                    }
                }
            }
            else
            {
                var data = new byte[length];
                f.BarRead(0, offset, data);
                data.Should().Equal(model.AsSpan((int)offset, length).ToArray(), ctx);
            }
        }
    }

    /// <summary>
    /// The calls must tile a prefix of [offset, offset+length) in order, without gaps or overlaps.
    /// Returns how many bytes were covered.
    /// </summary>
    private static int CheckCoverage(List<MmioCall> calls, ulong offset, int length, string ctx)
    {
        ulong at = offset;
        foreach (var c in calls)
        {
            c.Offset.Should().Be(at, ctx + ": calls are contiguous and in order");
            at += (ulong)c.Size;
        }

        ((int)(at - offset)).Should().BeLessThanOrEqualTo(length, ctx);
        return (int)(at - offset);
    }

    private static bool Splittable(AccessSizes set, ulong offset, int remaining) =>
        new[] { 1, 2, 4, 8 }.Any(b => b <= remaining && offset % (ulong)b == 0 && ((int)set & b) != 0);
}
