using PcieEmu.Interop;
using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Tests;

/// <summary>
/// How a resolved range moves: neighbouring mappings over contiguous pinned memory move as one copy (a physically
/// contiguous guest buffer mapped page by page), anything else breaks the run, and the bytes are the same either way.
/// </summary>
public sealed unsafe class TableWalkTests : IDisposable
{
    private const int Page = 4096;
    private const ulong Iova = 0x40_0000;

    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _memfd = MemFd.Create("table-walk-test", Page * 16, sealSize: true);
    private readonly MemoryMapping _whole;
    private readonly SharedFileMappings _files = new();
    private readonly byte[] _file = new byte[Page * 16];
    private readonly List<DmaRegion> _regions = [];

    public TableWalkTests()
    {
        _whole = MemoryMapping.Map(_memfd, 0, Page * 16, writable: true);
        new Random(9).NextBytes(_file);
        _whole.TryWrite(0, _file).Should().BeTrue();
    }

    public void Dispose()
    {
        foreach (var r in _regions)
        {
            r.ReleaseMemory();
        }

        _whole.Dispose();
        _memfd.Dispose();
    }

    [Fact]
    public void Mappings_over_contiguous_memory_move_as_one_copy_and_a_break_starts_another()
    {
        // IOVA pages 0..7 over file pages 0,1,2 | 5,6 | 3,4 | 7: four contiguous runs.
        int[] filePages = [0, 1, 2, 5, 6, 3, 4, 7];
        var table = Table([.. filePages.Select(f => Pinned(f))]);
        const int from = 100;
        int length = (8 * Page) - 300;

        var moves = Read(table, Iova + from, length, out byte[] read);

        moves.Should().Equal((0, (3 * Page) - from), ((3 * Page) - from, 2 * Page), ((5 * Page) - from, 2 * Page), ((7 * Page) - from, Page - 200));
        read.Should().Equal(Expected(filePages, from, length));
    }

    [Fact]
    public void A_mapping_without_pinned_memory_breaks_the_run_and_moves_through_its_backing()
    {
        var ram = new byte[Page];
        new Random(10).NextBytes(ram);
        var table = Table(Pinned(0), Pinned(1), Unpinned(ram), Pinned(3), Pinned(4));

        var moves = Read(table, Iova, 5 * Page, out byte[] read);

        moves.Should().Equal((0, 2 * Page), (3 * Page, 2 * Page));
        read.AsSpan(0, 2 * Page).ToArray().Should().Equal(_file.AsSpan(0, 2 * Page).ToArray());
        read.AsSpan(2 * Page, Page).ToArray().Should().Equal(ram);
        read.AsSpan(3 * Page).ToArray().Should().Equal(_file.AsSpan(3 * Page, 2 * Page).ToArray());
    }

    [Fact]
    public void Stores_into_memory_mapped_read_only_leave_the_run_for_the_backing_which_refuses_them()
    {
        var table = Table(Pinned(0), Pinned(1, writable: false), Pinned(2));
        var data = new byte[3 * Page];
        var write = new CountingWrites(data);
        TableWalk.Resolve(table, Iova, (ulong)data.Length, DmaAccess.Write, localOnly: false, start: null, out var first, out _).Should().Be(DmaResult.Ok);

        TableWalk.MoveAll(table, first, Iova, data.Length, counted: false, ref write).Should().Be(DmaResult.AccessDenied);
        write.Moves.Should().Equal((0, Page));
    }

    private List<(int At, int Count)> Read(MappingTable table, ulong iova, int length, out byte[] read)
    {
        read = new byte[length];
        var reads = new CountingReads(read);
        TableWalk.Resolve(table, iova, (ulong)length, DmaAccess.Read, localOnly: false, start: null, out var first, out _).Should().Be(DmaResult.Ok);
        TableWalk.MoveAll(table, first, iova, length, counted: false, ref reads).Should().Be(DmaResult.Ok);
        return reads.Moves;
    }

    private byte[] Expected(int[] filePages, int from, int length)
    {
        var pages = new byte[filePages.Length * Page];
        for (int i = 0; i < filePages.Length; i++)
        {
            _file.AsSpan(filePages[i] * Page, Page).CopyTo(pages.AsSpan(i * Page));
        }

        return pages.AsSpan(from, length).ToArray();
    }

    /// <summary>File page <paramref name="filePage"/> as the server backs a DMA_MAP: a view of the file's shared mmap.</summary>
    private IDmaBacking Pinned(int filePage, bool writable = true) =>
        _files.Map(_memfd, (ulong)filePage * Page, Page, writable, faultChecked: false);

    /// <summary>Memory with no pinned address: moves go through the backing.</summary>
    private static IDmaBacking Unpinned(byte[] ram) => new ArrayDmaBacking(ram);

    /// <summary>A table of <paramref name="backings"/> at consecutive IOVA pages from <see cref="Iova"/>; the test owns the regions.</summary>
    private MappingTable Table(params IDmaBacking[] backings)
    {
        var table = MappingTable.Empty;
        for (int i = 0; i < backings.Length; i++)
        {
            var r = new DmaRegion(Iova + ((ulong)i * Page), Page, DmaAccess.ReadWrite, backings[i]);
            _regions.Add(r);
            table = table.Insert(r);
        }

        return table;
    }

    /// <summary>Reads that record every move straight through pinned memory.</summary>
    private readonly struct CountingReads(byte[] destination) : IChunkTransfer
    {
        public List<(int At, int Count)> Moves { get; } = [];

        public bool Stores => false;

        public DmaResult Move(IDmaBacking backing, ulong offset, int at, int count) => backing.Read(offset, destination.AsSpan(at, count));

        public void MoveDirect(byte* memory, int at, int count)
        {
            Moves.Add((at, count));
            new ReadOnlySpan<byte>(memory, count).CopyTo(destination.AsSpan(at, count));
        }
    }

    /// <summary>Writes that record every move straight into pinned memory.</summary>
    private readonly struct CountingWrites(byte[] source) : IChunkTransfer
    {
        public List<(int At, int Count)> Moves { get; } = [];

        public bool Stores => true;

        public DmaResult Move(IDmaBacking backing, ulong offset, int at, int count) => backing.Write(offset, source.AsSpan(at, count));

        public void MoveDirect(byte* memory, int at, int count)
        {
            Moves.Add((at, count));
            source.AsSpan(at, count).CopyTo(new Span<byte>(memory, count));
        }
    }
}
