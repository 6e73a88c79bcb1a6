using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Interop;
using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Tests;

/// <summary>The IOVA table (style.md §3.3; libvfio-user dma.c contract).</summary>
public class DmaControllerTests
{
    private static DmaController NewController(int max = DmaController.DefaultMaxMappings) => new(NullLogger.Instance, max);

    /// <summary>Maps a read-only page over a fresh <see cref="RecordingBacking"/>, which the controller owns from here on; the test only watches it.</summary>
    private static RecordingBacking MapRecording(DmaController c, ulong iova, out int errno)
    {
        var backing = new RecordingBacking(0x1000);
        errno = c.MapOwned(iova, 0x1000, DmaAccess.Read, backing);
        return backing;
    }

    // ------------------------------------------------------------------ map / unmap

    [Fact]
    public void Map_then_unmap_exact_match()
    {
        using var c = NewController();
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000)).Should().Be(0);
        c.Count.Should().Be(1);
        c.Mappings.Should().Equal(new DmaMappingInfo(0x1000, 0x1000, DmaAccess.ReadWrite, "array"));

        c.Unmap(0x1000, 0x1000, out ulong unmapped).Should().Be(0);
        unmapped.Should().Be(0x1000);
        c.Count.Should().Be(0);
    }

    // ------------------------------------------------------------------ unmap: the kernel's VFIO type1 (v2) semantics

    [Fact]
    public void An_unmap_range_removes_every_mapping_inside_it_several_or_none()
    {
        // QEMU's IOMMU notifier unmaps power-of-two ranges holding several mappings or none (vIOMMU power-off).
        using var c = NewController();
        foreach (ulong iova in new ulong[] { 0x10000, 0x12000, 0x13000, 0x20000 })
        {
            c.MapRam(iova, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000)).Should().Be(0);
        }

        c.Unmap(0x8000, 0x8000, out ulong none).Should().Be(0, "a range holding no mapping unmaps nothing and succeeds");
        none.Should().Be(0);
        c.Unmap(0x10000, 0x10000, out ulong three).Should().Be(0);
        three.Should().Be(0x3000);
        c.Mappings.Select(m => m.Iova).Should().Equal(0x20000UL);
        c.Unmap(0, ulong.MaxValue, out ulong rest).Should().Be(0, "the whole address space but its last byte");
        rest.Should().Be(0x1000);
        c.Count.Should().Be(0);
    }

    [Theory]
    [InlineData(0x1000UL, 0x800UL)] // ends inside the mapping
    [InlineData(0x1800UL, 0x800UL)] // starts inside it
    [InlineData(0x1800UL, 0x10000UL)] // starts inside it, covers the next one whole
    [InlineData(0x0000UL, 0x1800UL)] // starts before it, ends inside
    public void An_unmap_range_that_cuts_through_a_mapping_is_EINVAL_and_removes_nothing(ulong iova, ulong size)
    {
        using var c = NewController();
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000)).Should().Be(0);
        c.MapRam(0x2000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000)).Should().Be(0);

        c.Unmap(iova, size).Should().Be(Errno.EINVAL);

        c.Count.Should().Be(2);
        c.Read(0x1000, new byte[0x2000]).Should().Be(DmaResult.Ok);
    }

    [Fact]
    public void Empty_or_wrapping_unmap_ranges_are_EINVAL()
    {
        using var c = NewController();
        c.Unmap(0x1000, 0).Should().Be(Errno.EINVAL);
        c.Unmap(ulong.MaxValue, 2).Should().Be(Errno.EINVAL);
    }

    [Fact]
    public void Map_and_unmap_churn_over_thousands_of_mappings_matches_a_reference_model()
    {
        // The chunked table (MappingTable) against a plain list: random maps, unmaps of whole, several, none and
        // cut-through ranges, and lookups, across chunk splits and merges.
        var random = new Random(20261204);
        using var c = NewController(max: 4096);
        var model = new SortedDictionary<ulong, ulong>(); // iova (in pages) -> pages
        for (int step = 0; step < 10_000; step++)
        {
            ulong page = (ulong)random.Next(0, 8192);
            ulong pages = (ulong)random.Next(1, 4);
            bool overlaps = model.Any(m => m.Key < page + pages && page < m.Key + m.Value);
            if (random.Next(3) > 0)
            {
                int errno = c.MapRam(page * 0x1000, pages * 0x1000, DmaAccess.ReadWrite, Functions.Ram(16));
                errno.Should().Be(overlaps ? Errno.EEXIST : model.Count >= 4096 ? Errno.ENOSPC : 0, $"step {step}");
                if (errno == 0)
                {
                    model[page] = pages;
                }
            }
            else
            {
                ulong span = (ulong)random.Next(1, 64);
                bool cuts = model.Any(m => (m.Key < page && page < m.Key + m.Value) || (m.Key < page + span && page + span < m.Key + m.Value));
                var inside = model.Where(m => m.Key >= page && m.Key + m.Value <= page + span).ToList();
                int errno = c.Unmap(page * 0x1000, span * 0x1000, out ulong unmapped);
                errno.Should().Be(cuts ? Errno.EINVAL : 0, $"step {step}");
                if (!cuts)
                {
                    unmapped.Should().Be((ulong)inside.Sum(m => (long)m.Value) * 0x1000);
                    inside.ForEach(m => model.Remove(m.Key));
                }
            }

            if (step % 997 == 0)
            {
                c.Mappings.Select(m => (m.Iova / 0x1000, m.Size / 0x1000)).Should().Equal(model.Select(m => (m.Key, m.Value)));
            }

            ulong probe = (ulong)random.Next(0, 8200);
            bool mapped = model.Any(m => m.Key <= probe && probe < m.Key + m.Value);
            c.Check(probe * 0x1000 + 8, 8, DmaAccess.Read).Should().Be(mapped ? DmaResult.Ok : DmaResult.Unmapped, $"step {step} probe {probe}");
        }
    }

    [Theory]
    [InlineData(0x1000UL, 0x1000UL)] // identical range, different access (below)
    [InlineData(0x0800UL, 0x1000UL)] // overlaps the start
    [InlineData(0x1FFFUL, 0x0001UL)] // the last byte
    [InlineData(0x0000UL, 0x4000UL)] // covers it
    [InlineData(0x1400UL, 0x0100UL)] // inside it
    public void Overlapping_map_is_EEXIST(ulong iova, ulong size)
    {
        using var c = NewController();
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000));
        c.MapRam(iova, size, DmaAccess.Read, Functions.Ram((int)size)).Should().Be(Errno.EEXIST);
        c.Count.Should().Be(1);
    }

    [Fact]
    public void Adjacent_maps_do_not_overlap()
    {
        using var c = NewController();
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000)).Should().Be(0);
        c.MapRam(0x2000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000)).Should().Be(0);
        c.MapRam(0x0000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000)).Should().Be(0);
        c.Mappings.Select(m => m.Iova).Should().Equal(0x0000, 0x1000, 0x2000);
    }

    [Fact]
    public void Exact_duplicate_map_is_EEXIST_and_one_unmap_removes_the_mapping()
    {
        // vfio-user: "a map overlapping an existing one => EEXIST"; the kernel's VFIO type1 map says the same for an
        // exact duplicate. The first mapping stays as it was and the refused backing is disposed.
        using var c = NewController();
        c.MapRam(0x1000, 0x1000, DmaAccess.Read, Functions.Ram(0x1000, 0xAB)).Should().Be(0);
        var duplicate = MapRecording(c, 0x1000, out int errno);
        errno.Should().Be(Errno.EEXIST);
        duplicate.Disposed.Should().BeTrue();
        c.Count.Should().Be(1);
        var b = new byte[1];
        c.Read(0x1000, b).Should().Be(DmaResult.Ok);
        b[0].Should().Be(0xAB, "the original mapping is untouched");

        c.Unmap(0x1000, 0x1000).Should().Be(0);
        c.Count.Should().Be(0);
        c.Read(0x1000, b).Should().Be(DmaResult.Unmapped);
    }

    [Fact]
    public void Empty_wrapping_or_accessless_ranges_are_EINVAL()
    {
        using var c = NewController();
        c.MapRam(0x1000, 0, DmaAccess.Read, Functions.Ram(16)).Should().Be(Errno.EINVAL);
        c.MapRam(ulong.MaxValue - 0xFFF, 0x2000, DmaAccess.Read, Functions.Ram(16)).Should().Be(Errno.EINVAL);
        c.MapRam(0x1000, 0x1000, DmaAccess.None, Functions.Ram(16)).Should().Be(Errno.EINVAL);
        c.Count.Should().Be(0);
    }

    [Fact]
    public void A_range_ending_exactly_at_the_top_of_the_address_space_is_valid()
    {
        using var c = NewController();
        c.MapRam(ulong.MaxValue - 0xFFF, 0x1000, DmaAccess.Read, Functions.Ram(0x1000, 7)).Should().Be(0);
        var b = new byte[0x10];
        c.Read(ulong.MaxValue - 0xF, b).Should().Be(DmaResult.Ok);
        b.Should().OnlyContain(x => x == 7);
        c.Read(ulong.MaxValue - 0xF, new byte[0x11]).Should().NotBe(DmaResult.Ok, "the range would wrap past 2^64");
    }

    [Fact]
    public void Table_limit_is_ENOSPC_and_the_refused_backing_is_disposed()
    {
        using var c = NewController(max: 2);
        c.MapRam(0x0000, 0x1000, DmaAccess.Read, Functions.Ram(0x1000)).Should().Be(0);
        c.MapRam(0x1000, 0x1000, DmaAccess.Read, Functions.Ram(0x1000)).Should().Be(0);
        var refused = MapRecording(c, 0x2000, out int errno);

        errno.Should().Be(Errno.ENOSPC);
        refused.Disposed.Should().BeTrue("Map takes ownership of the backing even when it fails");
        c.MapRam(0x0000, 0x1000, DmaAccess.Read, Functions.Ram(0x1000)).Should().Be(Errno.EEXIST, "an exact duplicate is an overlap, checked before the table limit");
    }

    [Fact]
    public void Max_mappings_must_be_positive()
    {
        var act = () => NewController(max: 0);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void UnmapAll_removes_and_disposes_every_mapping()
    {
        using var c = NewController();
        var a = MapRecording(c, 0x1000, out _);
        var b = MapRecording(c, 0x8000, out _);
        int changes = 0;
        c.MappingsChanged += () => changes++;

        c.UnmapAll();

        c.Count.Should().Be(0);
        a.Disposed.Should().BeTrue();
        b.Disposed.Should().BeTrue();
        a.Revoked.Should().BeTrue();
        changes.Should().Be(1);
    }

    [Fact]
    public void MappingsChanged_fires_after_each_successful_map_and_unmap_only()
    {
        using var c = NewController();
        int changes = 0;
        c.MappingsChanged += () => changes++;
        c.MapRam(0x1000, 0x1000, DmaAccess.Read, Functions.Ram(0x1000));
        c.MapRam(0x1000, 0x10, DmaAccess.Read, Functions.Ram(0x10));
        c.Unmap(0x5000, 0x1000);
        c.Unmap(0x1000, 0x1000);
        changes.Should().Be(2);
    }

    // ------------------------------------------------------------------ read / write

    [Fact]
    public void Read_and_write_cross_two_adjacent_mappings()
    {
        using var c = NewController();
        var low = Functions.Ram(0x1000);
        var high = Functions.Ram(0x1000);
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, low);
        c.MapRam(0x2000, 0x1000, DmaAccess.ReadWrite, high);
        var data = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();

        c.Write(0x1FF0, data).Should().Be(DmaResult.Ok);

        low[0xFF0..].Should().Equal(data[..16]);
        high[..16].Should().Equal(data[16..]);
        var back = new byte[32];
        c.Read(0x1FF0, back).Should().Be(DmaResult.Ok);
        back.Should().Equal(data);
    }

    [Fact]
    public void A_gap_is_Unmapped_and_no_byte_moves()
    {
        using var c = NewController();
        var a = Functions.Ram(0x1000, 0x11);
        var b = Functions.Ram(0x1000, 0x22);
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, a);
        c.MapRam(0x3000, 0x1000, DmaAccess.ReadWrite, b);

        var dest = Enumerable.Repeat((byte)0xCC, 0x20).ToArray();
        c.Read(0x1FF0, dest).Should().Be(DmaResult.Unmapped);
        dest.Should().OnlyContain(x => x == 0xCC, "no partial copy");

        c.Write(0x1FF0, new byte[0x20]).Should().Be(DmaResult.Unmapped);
        a.Should().OnlyContain(x => x == 0x11);

        c.Write(0x2FF0, new byte[0x20]).Should().Be(DmaResult.Unmapped, "the gap comes first here");
        b.Should().OnlyContain(x => x == 0x22);
    }

    [Fact]
    public void Read_only_mapping_refuses_writes_and_write_only_refuses_reads()
    {
        using var c = NewController();
        var ro = Functions.Ram(0x1000, 0x5A);
        c.MapRam(0x1000, 0x1000, DmaAccess.Read, ro);
        c.MapRam(0x2000, 0x1000, DmaAccess.Write, Functions.Ram(0x1000));

        c.Write(0x1000, new byte[4]).Should().Be(DmaResult.AccessDenied);
        ro[0].Should().Be(0x5A);
        c.Read(0x2000, new byte[4]).Should().Be(DmaResult.AccessDenied);
        c.Write(0x1FFC, new byte[8]).Should().Be(DmaResult.AccessDenied, "the first half is read-only");
        c.Check(0x1000, 0x2000, DmaAccess.ReadWrite).Should().Be(DmaResult.AccessDenied);
        c.Check(0x1000, 0x1000, DmaAccess.Read).Should().Be(DmaResult.Ok);
    }

    [Fact]
    public void Check_of_an_overflowing_range_is_InvalidRange_and_empty_is_Ok()
    {
        using var c = NewController();
        c.Check(ulong.MaxValue, 2, DmaAccess.Read).Should().Be(DmaResult.InvalidRange);
        c.Check(0x1234, 0, DmaAccess.Read).Should().Be(DmaResult.Ok);
    }

    // ------------------------------------------------------------------ one range check per transfer

    [Fact]
    public void A_transfer_across_contiguous_mappings_moves_through_each()
    {
        using var c = NewController();
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000, 0x11));
        c.MapRam(0x2000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000, 0x22));
        c.MapRam(0x3000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000, 0x33));
        var buffer = new byte[0x2000];

        c.Read(0x1800, buffer).Should().Be(DmaResult.Ok);

        buffer.AsSpan(0, 0x800).ToArray().Should().OnlyContain(b => b == 0x11);
        buffer.AsSpan(0x800, 0x1000).ToArray().Should().OnlyContain(b => b == 0x22);
        buffer.AsSpan(0x1800).ToArray().Should().OnlyContain(b => b == 0x33);
        c.Check(0x1800, 0x2000, DmaAccess.Write).Should().Be(DmaResult.Ok);
    }

    [Fact]
    public void A_transfer_starting_where_the_last_one_did_walks_the_table_as_it_is_now()
    {
        // The controller remembers where the last transfer started; each step below changes the table under that
        // memory (positions shift, the next mapping changes, the first goes), and every transfer sees the change.
        using var c = NewController();
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000, 0x11));
        c.MapRam(0x2000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000, 0x22));
        var buffer = new byte[0x1000];
        c.Read(0x1800, buffer).Should().Be(DmaResult.Ok);
        buffer.AsSpan(0x800).ToArray().Should().OnlyContain(b => b == 0x22);

        c.MapRam(0x0000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000, 0x00)).Should().Be(0); // every position moves up one
        c.Unmap(0x2000, 0x1000).Should().Be(0);
        c.MapRam(0x2000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000, 0x44)).Should().Be(0);
        c.Read(0x1800, buffer).Should().Be(DmaResult.Ok);
        buffer.AsSpan(0, 0x800).ToArray().Should().OnlyContain(b => b == 0x11);
        buffer.AsSpan(0x800).ToArray().Should().OnlyContain(b => b == 0x44, "the walk found the new mapping");

        c.Read(0x1800, buffer).Should().Be(DmaResult.Ok); // from the remembered position this time
        buffer.AsSpan(0x800).ToArray().Should().OnlyContain(b => b == 0x44);
        c.Unmap(0x2000, 0x1000).Should().Be(0);
        c.Read(0x1800, buffer).Should().Be(DmaResult.Unmapped);
        c.Unmap(0x1000, 0x1000).Should().Be(0);
        c.Read(0x1800, buffer).Should().Be(DmaResult.Unmapped);
        c.Read(0x0800, buffer).Should().Be(DmaResult.Unmapped, "the mapping after 0x0000 is gone too");
    }

    [Fact]
    public void A_mapping_replaced_at_the_remembered_position_is_used_as_it_is_now()
    {
        // Same IOVA, same position in the table, another mapping: the shortcut must read the new one's memory and
        // permissions, not what the last transfer saw there.
        using var c = NewController();
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000, 0x11));
        var buffer = new byte[0x100];
        c.Write(0x1100, buffer).Should().Be(DmaResult.Ok);

        c.Unmap(0x1000, 0x1000).Should().Be(0);
        c.MapRam(0x1000, 0x1000, DmaAccess.Read, Functions.Ram(0x1000, 0x55)).Should().Be(0);
        c.Write(0x1100, buffer).Should().Be(DmaResult.AccessDenied);
        c.Read(0x1100, buffer).Should().Be(DmaResult.Ok);
        buffer.Should().OnlyContain(b => b == 0x55);
    }

    [Fact]
    public void A_gap_or_a_forbidden_direction_anywhere_in_the_range_moves_nothing()
    {
        using var c = NewController();
        var first = Functions.Ram(0x1000, 0x11);
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, first);
        c.MapRam(0x3000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000));
        c.MapRam(0x4000, 0x1000, DmaAccess.Read, Functions.Ram(0x1000));
        var data = new byte[0x2000];
        data.AsSpan().Fill(0xEE);

        c.Write(0x1800, data).Should().Be(DmaResult.Unmapped, "0x2000..0x2fff is not mapped");
        c.Write(0x3800, data.AsSpan(0, 0x1000)).Should().Be(DmaResult.AccessDenied, "the second mapping is read-only");
        first.Should().OnlyContain(b => b == 0x11, "the range is checked whole before any byte moves");
        c.Check(0x1800, 0x1000, DmaAccess.Read).Should().Be(DmaResult.Unmapped);
        c.Check(0x3800, 0x1000, DmaAccess.Write).Should().Be(DmaResult.AccessDenied);
    }

    [Fact]
    public void First_fault_names_the_first_address_a_transfer_cannot_reach()
    {
        using var c = NewController();
        c.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000));
        c.MapRam(0x2000, 0x1000, DmaAccess.Read, Functions.Ram(0x1000));
        c.MapRam(0x4000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000));

        c.FirstFault(0x1800, 0x1000, DmaAccess.Read).Should().BeNull("0x1800..0x27ff is mapped for reads");
        c.FirstFault(0x1800, 0x1000, DmaAccess.Write).Should().Be(0x2000UL, "the second mapping is read-only");
        c.FirstFault(0x1800, 0x2000, DmaAccess.Read).Should().Be(0x3000UL, "the gap after the second mapping");
        c.FirstFault(0x3800, 0x1000, DmaAccess.Read).Should().Be(0x3800UL, "the range starts in the gap");
        c.FirstFault(0x4ff0, 0x10, DmaAccess.Write).Should().BeNull();
        c.FirstFault(0x4ff0, 0x11, DmaAccess.Write).Should().Be(0x5000UL, "one byte past the last mapping");
        c.FirstFault(0x4ff0, 0, DmaAccess.Write).Should().BeNull("an empty range moves nothing");
    }

    [Fact]
    public void First_fault_of_a_range_wrapping_past_the_top_is_where_it_wraps()
    {
        using var c = NewController();
        c.MapRam(ulong.MaxValue - 0xfff, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000));

        c.FirstFault(ulong.MaxValue - 0xf, 0x10, DmaAccess.Read).Should().BeNull();
        c.FirstFault(ulong.MaxValue - 0xf, 0x11, DmaAccess.Read).Should().Be(0UL);
    }

    // ------------------------------------------------------------------ unmap drains in-flight users

    [Fact]
    public async Task Unmap_waits_for_an_in_flight_transfer_and_revokes_the_backing_first()
    {
        using var c = NewController();
        using var slow = new BlockingBacking(0x1000);
        c.Map(0x1000, 0x1000, DmaAccess.ReadWrite, slow);

        var transfer = OnOwnThread(() => c.Read(0x1000, new byte[16]));
        slow.Entered.Wait(TimeSpan.FromSeconds(5)).Should().BeTrue("the transfer reached the backing");

        var unmap = OnOwnThread(() => c.Unmap(0x1000, 0x1000));
        slow.RevokeCalled.Wait(TimeSpan.FromSeconds(5)).Should().BeTrue("unmap revokes before it drains");
        await Task.Delay(150);
        unmap.IsCompleted.Should().BeFalse("the transfer is still copying");
        slow.Disposed.Should().BeFalse("the memory must outlive its users");

        slow.Release.Set();
        (await transfer).Should().Be(DmaResult.Ok);
        (await unmap).Should().Be(0);
        slow.DisposedWhileBusy.Should().BeFalse();
        slow.Disposed.Should().BeTrue();
        c.Read(0x1000, new byte[16]).Should().Be(DmaResult.Unmapped);
    }

    [Fact]
    public async Task Concurrent_reads_while_other_ranges_are_mapped_and_unmapped_are_safe()
    {
        using var c = NewController();
        var stable = Functions.Ram(0x1000);
        for (int i = 0; i < stable.Length; i++)
        {
            stable[i] = (byte)(i * 31);
        }

        c.MapRam(0x10_0000, 0x1000, DmaAccess.Read, stable);
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();

        var readers = Enumerable.Range(0, 4).Select(t => OnOwnThread(() =>
        {
            var buf = new byte[64];
            var rng = new Random(t);
            while (!stop.IsCancellationRequested)
            {
                int off = rng.Next(0, 0x1000 - 64);
                var r = c.Read(0x10_0000 + (ulong)off, buf);
                if (r != DmaResult.Ok)
                {
                    errors.Enqueue($"read {r}");
                    return 1;
                }

                for (int i = 0; i < buf.Length; i++)
                {
                    if (buf[i] != (byte)((off + i) * 31))
                    {
                        errors.Enqueue($"torn data at 0x{off + i:x}");
                        return 1;
                    }
                }

                // Reads of the churning ranges may or may not find them, but must never throw.
                c.Read(0x20_0000 + ((ulong)rng.Next(0, 8) * 0x1000), buf);
            }

            return 0;
        })).ToList();

        var mapper = OnOwnThread(() =>
        {
            var rng = new Random(99);
            while (!stop.IsCancellationRequested)
            {
                ulong iova = 0x20_0000 + ((ulong)rng.Next(0, 8) * 0x1000);
                if (c.MapRam(iova, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000)) == 0)
                {
                    c.Write(iova, new byte[16]);
                    c.Unmap(iova, 0x1000);
                }
            }

            return 0;
        });

        await Task.WhenAll(readers.Append(mapper));
        errors.Should().BeEmpty();
        c.Count.Should().Be(1);
    }

    [Fact]
    public async Task An_unmap_does_not_wait_for_a_transfer_that_waits_on_the_client_elsewhere()
    {
        // A message-DMA transfer may wait on a reply that only the unmapping thread can read: it must not hold
        // unmaps of other mappings hostage (it counts itself on its own mapping, outside the transfer epochs).
        using var c = NewController();
        using var remote = new BlockingBacking(0x1000, isLocal: false);
        c.Map(0x1000, 0x1000, DmaAccess.ReadWrite, remote);
        var local = MapRecording(c, 0x8000, out _);

        var transfer = OnOwnThread(() => c.Read(0x1000, new byte[16]));
        remote.Entered.Wait(TimeSpan.FromSeconds(5)).Should().BeTrue("the transfer waits on the client");

        var unmap = OnOwnThread(() => c.Unmap(0x8000, 0x1000));
        (await unmap).Should().Be(0, "the unmap completes while the other transfer still waits");
        local.Disposed.Should().BeTrue();

        remote.Release.Set();
        (await transfer).Should().Be(DmaResult.Ok);
    }

    [Fact]
    public async Task Memory_a_timed_out_unmap_could_not_drain_is_freed_only_after_its_transfer_is_done()
    {
        using var c = new DmaController(NullLogger.Instance, DmaController.DefaultMaxMappings, TimeSpan.FromMilliseconds(50));
        using var slow = new BlockingBacking(0x1000);
        c.Map(0x1000, 0x1000, DmaAccess.ReadWrite, slow);
        var transfer = OnOwnThread(() => c.Read(0x1000, new byte[16]));
        slow.Entered.Wait(TimeSpan.FromSeconds(5)).Should().BeTrue();

        c.Unmap(0x1000, 0x1000).Should().Be(0, "the unmap gives up waiting and succeeds");
        c.Count.Should().Be(0);
        slow.Disposed.Should().BeFalse("a transfer still copies from it");

        slow.Release.Set();
        (await transfer).Should().Be(DmaResult.Ok);
        for (int i = 0; i < 2; i++)
        {
            // A later unmap finds the grace period the straggler held up over.
            c.MapRam(0x9000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000)).Should().Be(0);
            c.Unmap(0x9000, 0x1000).Should().Be(0);
        }

        slow.Disposed.Should().BeTrue();
        slow.DisposedWhileBusy.Should().BeFalse();
    }

    [Fact]
    public void Pinned_mmap_mappings_copy_scattered_pages_exactly_and_keep_read_only_memory_read_only()
    {
        const int page = 4096;
        const int pages = 64;
        using var memfd = MemFd.Create("dma-pinned-test", page * pages, sealSize: true);
        using var whole = MemoryMapping.Map(memfd, 0, page * pages, writable: true);
        var reference = new byte[page * pages];
        new Random(5).NextBytes(reference);
        whole.TryWrite(0, reference).Should().BeTrue();

        using var c = NewController();
        int Scatter(int i) => i * 37 % pages; // IOVA page i is file page Scatter(i)
        for (int i = 0; i < pages; i++)
        {
            MapPage(c, 0x10_0000 + ((ulong)i * page), memfd, (ulong)Scatter(i) * page, writable: true).Should().Be(0);
        }

        var expected = new byte[page * pages];
        for (int i = 0; i < pages; i++)
        {
            reference.AsSpan(Scatter(i) * page, page).CopyTo(expected.AsSpan(i * page));
        }

        var read = new byte[(page * 5) + 100];
        c.Read(0x10_0000 + (3 * page) + 7, read).Should().Be(DmaResult.Ok);
        read.Should().Equal(expected.AsSpan((3 * page) + 7, read.Length).ToArray());

        var data = new byte[(page * 3) + 1];
        new Random(6).NextBytes(data);
        c.Write(0x10_0000 + (10 * page) + page - 1, data).Should().Be(DmaResult.Ok);
        var back = new byte[data.Length];
        c.Read(0x10_0000 + (10 * page) + page - 1, back).Should().Be(DmaResult.Ok);
        back.Should().Equal(data);
        var file = new byte[page];
        whole.TryRead((ulong)Scatter(11) * page, file).Should().BeTrue();
        file.Should().Equal(data.AsSpan(1, page).ToArray(), "the write landed in the file page behind IOVA page 11");

        // A mapping the table allows writes to, over memory mmapped read-only: the store is refused, not a crash.
        MapPage(c, 0x90_0000, memfd, 0, writable: false).Should().Be(0);
        c.Write(0x90_0000, new byte[16]).Should().Be(DmaResult.AccessDenied);

        int Mapped() => File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("/memfd:dma-pinned-test", StringComparison.Ordinal));
        int before = Mapped();
        c.UnmapAll();
        (before - Mapped()).Should().Be(pages + 1, "every pinned page is munmapped once its mapping is gone");
    }

    /// <summary>Maps 4 KiB at <paramref name="iova"/> (read and write allowed) over its own mmap of that page of <paramref name="memfd"/>.</summary>
    private static int MapPage(DmaController c, ulong iova, Microsoft.Win32.SafeHandles.SafeFileHandle memfd, ulong offset, bool writable) =>
        c.MapOwned(iova, 4096, DmaAccess.ReadWrite, new MappedDmaBacking(MemoryMapping.Map(memfd, offset, 4096, writable)));

    /// <summary>Runs on a dedicated thread so blocking tests do not depend on thread-pool injection.</summary>
    private static Task<T> OnOwnThread<T>(Func<T> work) =>
        Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Counts disposal and revocation; memory reads as zero.</summary>
    private sealed class RecordingBacking(int size) : IDmaBacking
    {
        private readonly byte[] _memory = new byte[size];

        public bool Disposed { get; private set; }

        public bool Revoked { get; private set; }

        public string Kind => "recording";

        public DmaResult Read(ulong offset, Span<byte> destination)
        {
            _memory.AsSpan((int)offset, destination.Length).CopyTo(destination);
            return DmaResult.Ok;
        }

        public DmaResult Write(ulong offset, ReadOnlySpan<byte> source)
        {
            source.CopyTo(_memory.AsSpan((int)offset));
            return DmaResult.Ok;
        }

        public void Revoke() => Revoked = true;

        public void Dispose() => Disposed = true;
    }

    /// <summary>A backing whose transfers block until the test releases them.</summary>
    private sealed class BlockingBacking(int size, bool isLocal = true) : IDmaBacking
    {
        private readonly byte[] _memory = new byte[size];
        private int _busy;

        public ManualResetEventSlim Entered { get; } = new();

        public ManualResetEventSlim Release { get; } = new();

        public ManualResetEventSlim RevokeCalled { get; } = new();

        public bool Disposed { get; private set; }

        public bool DisposedWhileBusy { get; private set; }

        public string Kind => "blocking";

        public bool IsLocal => isLocal;

        public DmaResult Read(ulong offset, Span<byte> destination)
        {
            Interlocked.Increment(ref _busy);
            Entered.Set();
            Release.Wait(TimeSpan.FromSeconds(10));
            _memory.AsSpan((int)offset, destination.Length).CopyTo(destination);
            Interlocked.Decrement(ref _busy);
            return DmaResult.Ok;
        }

        public DmaResult Write(ulong offset, ReadOnlySpan<byte> source)
        {
            source.CopyTo(_memory.AsSpan((int)offset));
            return DmaResult.Ok;
        }

        public void Revoke() => RevokeCalled.Set();

        public void Dispose()
        {
            if (Volatile.Read(ref _busy) != 0)
            {
                DisposedWhileBusy = true;
            }

            Disposed = true;
        }
    }
}
