using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;
using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Tests;

/// <summary>One mmap per guest-memory file for all of a session's DMA mappings (page-by-page vIOMMU maps).</summary>
public class SharedFileMappingsTests
{
    private const int Page = 4096;

    [Fact]
    public void Pages_of_one_file_mapped_through_separate_fds_share_one_mmap_until_the_last_unmap()
    {
        string name = $"shared-{Guid.NewGuid():N}";
        using var memfd = MemFd.Create(name, 16 * Page, sealSize: true);
        var content = Pattern(16 * Page, 3);
        RandomAccess.Write(memfd, content, 0);
        var files = new SharedFileMappings();
        using var dma = new DmaController(NullLogger.Instance);

        for (int i = 0; i < 8; i++)
        {
            // Each DMA_MAP brings its own fd of the same file, which the server closes right after.
            using var fd = Reopen(memfd);
            int filePage = 15 - i;
            dma.Map(0x10_0000 + ((ulong)i * Page), Page, DmaAccess.ReadWrite, files.Map(fd, (ulong)filePage * Page, Page, writable: true, faultChecked: false)).Should().Be(0);
        }

        files.FileCount.Should().Be(1);
        MappedViews(name).Should().Be(1, "eight DMA mappings, one mmap of their file");

        var read = new byte[3 * Page];
        dma.Read(0x10_0000 + Page, read).Should().Be(DmaResult.Ok);
        for (int i = 0; i < 3; i++)
        {
            read.AsSpan(i * Page, Page).ToArray().Should().Equal(content.AsSpan((14 - i) * Page, Page).ToArray(), $"IOVA page {i + 1} is file page {14 - i}");
        }

        dma.Write(0x10_0000, new byte[] { 0xAA, 0xBB }).Should().Be(DmaResult.Ok);
        var back = new byte[2];
        RandomAccess.Read(memfd, back, 15 * Page);
        back.Should().Equal(0xAA, 0xBB);

        dma.Unmap(0x10_0000, 7 * Page).Should().Be(0);
        MappedViews(name).Should().Be(1, "one DMA mapping still uses the file");
        dma.Read(0x10_0000 + (7 * Page), new byte[16]).Should().Be(DmaResult.Ok);

        dma.Unmap(0x10_0000 + (7 * Page), Page).Should().Be(0);
        files.FileCount.Should().Be(0);
        MappedViews(name).Should().Be(0, "the last unmap munmaps the file");
    }

    [Fact]
    public void Read_only_and_writable_maps_of_one_file_are_separate_and_the_read_only_one_refuses_stores()
    {
        string name = $"shared-ro-{Guid.NewGuid():N}";
        using var memfd = MemFd.Create(name, 4 * Page, sealSize: true);
        var files = new SharedFileMappings();
        using var dma = new DmaController(NullLogger.Instance);
        dma.Map(0x1000_0000, Page, DmaAccess.ReadWrite, files.Map(memfd, 0, Page, writable: true, faultChecked: false)).Should().Be(0);

        // The table allows writes here, but the memory is mapped read-only: the store is refused, not a crash.
        dma.Map(0x2000_0000, Page, DmaAccess.ReadWrite, files.Map(memfd, Page, Page, writable: false, faultChecked: false)).Should().Be(0);
        files.FileCount.Should().Be(2);
        dma.Write(0x2000_0000, new byte[8]).Should().Be(DmaResult.AccessDenied);
        dma.Write(0x1000_0000, new byte[8]).Should().Be(DmaResult.Ok);
        dma.UnmapAll();
        MappedViews(name).Should().Be(0);
    }

    [Fact]
    public void A_range_past_the_size_of_the_file_when_first_mapped_gets_a_mapping_that_holds_it()
    {
        string name = $"shared-grow-{Guid.NewGuid():N}";
        using var memfd = MemFd.Create(name, 2 * Page);
        var files = new SharedFileMappings();
        using var dma = new DmaController(NullLogger.Instance);
        dma.Map(0x1000, Page, DmaAccess.ReadWrite, files.Map(memfd, 0, Page, writable: true, faultChecked: true)).Should().Be(0);

        RandomAccess.SetLength(memfd, 8 * Page);
        RandomAccess.Write(memfd, new byte[] { 1, 2, 3 }, 6 * Page);
        dma.Map(0x9000, Page, DmaAccess.ReadWrite, files.Map(memfd, 6 * Page, Page, writable: true, faultChecked: true)).Should().Be(0);

        var read = new byte[3];
        dma.Read(0x9000, read).Should().Be(DmaResult.Ok);
        read.Should().Equal(1, 2, 3);
        dma.Read(0x1000, read).Should().Be(DmaResult.Ok, "the first mapping still reads through the mapping it was made with");
        dma.UnmapAll();
        MappedViews(name).Should().Be(0, "a superseded file mapping goes with its last DMA mapping");
    }

    [Fact]
    public async Task Transfers_racing_unmaps_that_munmap_their_memory_never_touch_it_after_it_is_gone()
    {
        // Every unmap here drops the last view of its file, so it munmaps: a transfer the grace period failed to
        // wait for would copy from unmapped memory and kill the test process, not just fail an assertion.
        const int slots = 8;
        var memfds = Enumerable.Range(0, slots).Select(i =>
        {
            var fd = MemFd.Create($"race-{i}", Page, sealSize: true);
            RandomAccess.Write(fd, Enumerable.Repeat((byte)(i + 1), Page).ToArray(), 0);
            return fd;
        }).ToArray();
        var files = new SharedFileMappings();
        using var dma = new DmaController(NullLogger.Instance);
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        long okReads = 0;

        var readers = Enumerable.Range(0, 2).Select(t => Task.Factory.StartNew(() =>
        {
            var buffer = new byte[Page];
            var rng = new Random(t);
            while (!stop.IsCancellationRequested)
            {
                int slot = rng.Next(slots);
                if (dma.Read(0x10_0000 + ((ulong)slot * Page), buffer) == DmaResult.Ok)
                {
                    Interlocked.Increment(ref okReads);
                    if (buffer.Any(b => b != slot + 1))
                    {
                        errors.Enqueue($"slot {slot}: foreign bytes");
                    }
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToList();

        var mapper = Task.Factory.StartNew(() =>
        {
            var rng = new Random(7);
            while (!stop.IsCancellationRequested)
            {
                int slot = rng.Next(slots);
                ulong iova = 0x10_0000 + ((ulong)slot * Page);
                long before = Interlocked.Read(ref okReads);
                if (dma.Map(iova, Page, DmaAccess.Read, files.Map(memfds[slot], 0, Page, writable: false, faultChecked: false)) == 0)
                {
                    // Unmap only once readers are at it, so unmaps meet transfers in flight.
                    SpinWait.SpinUntil(() => Interlocked.Read(ref okReads) > before || stop.IsCancellationRequested);
                    dma.Unmap(iova, Page).Should().Be(0);
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        await Task.WhenAll(readers.Append(mapper));
        errors.Should().BeEmpty();
        okReads.Should().BePositive("the readers met mapped memory");
        dma.Count.Should().Be(0);
        files.FileCount.Should().Be(0);
        foreach (var fd in memfds)
        {
            fd.Dispose();
        }
    }

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Another fd of the same open file, as each DMA_MAP brings one.</summary>
    private static SafeFileHandle Reopen(SafeFileHandle fd) =>
        File.OpenHandle($"/proc/self/fd/{fd.DangerousGetHandle()}", FileMode.Open, FileAccess.ReadWrite);

    private static int MappedViews(string name) =>
        File.ReadAllLines("/proc/self/maps").Count(l => l.Contains($"/memfd:{name}", StringComparison.Ordinal));
}
