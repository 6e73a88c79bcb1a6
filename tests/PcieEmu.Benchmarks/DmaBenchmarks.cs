using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Tests;

namespace PcieEmu.Benchmarks;

/// <summary>
/// Device reads through <see cref="DmaController"/> against a raw memcpy of the same number of bytes, in the same run:
/// through one mapping of all guest RAM (no vIOMMU) and through 16,384 mappings of 4 KiB (a vIOMMU session), over
/// pages scattered in guest memory (PageMappings) or in order (InOrderPages: a physically contiguous buffer). The
/// source is the same bytes every time (warm caches, so the table's cost is not hidden behind memory latency); Offset
/// 2048 makes every copy straddle a page boundary (one more mapping per copy). ScatteredMemcpy copies PageMappings'
/// pages with no table at all (the same vector copy, page by page): what scattering alone costs, so PageMappings over
/// it is the table's share. Ratio is time over memcpy's, so speed relative to memcpy is 1 / Ratio; the goal is at
/// least 0.8 × memcpy (Ratio ≤ 1.25) from 4 KiB with 16,384 mappings — against ScatteredMemcpy instead of memcpy for
/// scattered pages from 64 KiB on, where scattering alone costs more than that. Run it in the separate process
/// BenchmarkDotNet starts by default: with --inProcess the same transfers measured 15–60 % slower, unsteadily.
/// </summary>
[Config(typeof(DmaCopyConfig))]
public unsafe class DmaCopyBenchmarks
{
    /// <summary>Where the copies start: 1 MiB in (page 256), plus <see cref="Offset"/>.</summary>
    private const int Base = 256 * DmaGuestMemory.Page;

    private DmaGuestMemory _memory = null!;
    private byte[] _destination = [];

    [Params(4096, 65536, 1 << 20)]
    public int Bytes { get; set; }

    [Params(0, 2048)]
    public int Offset { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _memory = new DmaGuestMemory();
        _destination = GC.AllocateUninitializedArray<byte>(Bytes, pinned: true);
    }

    [GlobalCleanup]
    public void Cleanup() => _memory.Dispose();

    [Benchmark(Baseline = true)]
    public void Memcpy() => new ReadOnlySpan<byte>(_memory.Contiguous + Base + Offset, Bytes).CopyTo(_destination);

    [Benchmark]
    public void OneMapping() => DmaGuestMemory.Check(_memory.One.Read(DmaGuestMemory.OneIova + Base + (ulong)Offset, _destination));

    [Benchmark]
    public void PageMappings() => DmaGuestMemory.Check(_memory.Many.Read(DmaGuestMemory.PagesIova + Base + (ulong)Offset, _destination));

    [Benchmark]
    public void InOrderPages() => DmaGuestMemory.Check(_memory.InOrder.Read(DmaGuestMemory.InOrderIova + Base + (ulong)Offset, _destination));

    [Benchmark]
    public void ScatteredMemcpy()
    {
        fixed (byte* destination = _destination)
        {
            int done = 0;
            for (int at = Base + Offset; done < Bytes;)
            {
                int page = at / DmaGuestMemory.Page;
                int offset = at % DmaGuestMemory.Page;
                int count = Math.Min(Bytes - done, DmaGuestMemory.Page - offset);
                GuestMemoryCopy.Copy(_memory.Contiguous + ((long)DmaGuestMemory.Scatter(page) * DmaGuestMemory.Page) + offset, destination + done, count);
                done += count;
                at += count;
            }
        }
    }
}

/// <summary>
/// A 16-byte device read (a descriptor, a position) through one mapping and through 16,384. Spread: each of 1,024
/// reads in a row hits another page (the last-hit shortcut never helps the 16,384 table: a full lookup each time);
/// otherwise all hit one page. Mean is per read; the goal is at most 30 ns.
/// </summary>
[Config(typeof(DmaReadConfig))]
public class DmaSmallReadBenchmarks
{
    public const int Reads = 1024;

    private DmaGuestMemory _memory = null!;
    private DmaController _dma = null!;
    private ulong[] _addresses = [];
    private byte[] _destination = new byte[16];

    [Params(1, DmaGuestMemory.Pages)]
    public int Mappings { get; set; }

    [Params(false, true)]
    public bool Spread { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _memory = new DmaGuestMemory();
        _dma = Mappings == 1 ? _memory.One : _memory.Many;
        ulong iova = Mappings == 1 ? DmaGuestMemory.OneIova : DmaGuestMemory.PagesIova;
        _addresses = new ulong[Reads];
        for (int k = 0; k < Reads; k++)
        {
            long page = Spread ? (long)k * 97 % DmaGuestMemory.Pages : 300;
            _addresses[k] = iova + (ulong)(page * DmaGuestMemory.Page) + (ulong)(k * 16 * 7 % (DmaGuestMemory.Page - 16));
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _memory.Dispose();

    [Benchmark(OperationsPerInvoke = Reads)]
    public void Read16()
    {
        var dma = _dma;
        var destination = _destination.AsSpan();
        foreach (ulong a in _addresses)
        {
            if (dma.Read(a, destination) != DmaResult.Ok)
            {
                DmaGuestMemory.Check(DmaResult.Unmapped);
            }
        }
    }
}

/// <summary>
/// DMA_MAP + DMA_UNMAP of one 4 KiB page while 16,384 others are mapped (a vIOMMU guest maps and frees buffers page
/// by page, strict mode unmapping at once). TableOnly times the controller (a backing with nothing to set up);
/// ServerBacking adds what the server does per DMA_MAP: statx the fd and take a view of the file's shared mmap;
/// PrivateMmap is what it did before, an mmap per page and a munmap at the unmap. Mean is per map or unmap
/// (OperationsPerInvoke = 2), so Op/s counts each; the goal is at least 100,000 map+unmap pairs per second.
/// </summary>
[Config(typeof(DmaChurnConfig))]
public class DmaChurnBenchmarks
{
    private const int Slots = 256;

    private DmaGuestMemory _memory = null!;
    private ArrayDmaBacking _page = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _memory = new DmaGuestMemory(spareMappings: 1);
        _page = new ArrayDmaBacking(new byte[DmaGuestMemory.Page]); // Dispose does nothing: one serves every map
    }

    [GlobalCleanup]
    public void Cleanup() => _memory.Dispose();

    [Benchmark(OperationsPerInvoke = 2)]
    public void TableOnly() => MapUnmap(_page);

    [Benchmark(OperationsPerInvoke = 2)]
    public void ServerBacking() => MapUnmap(_memory.NewPageBacking(_next % DmaGuestMemory.Pages));

    [Benchmark(OperationsPerInvoke = 2)]
    public void PrivateMmap() => MapUnmap(_memory.NewPrivatePageBacking(_next % DmaGuestMemory.Pages));

    /// <summary>Maps and unmaps a page past the 16,384, at one of 256 IOVAs in turn (so chunks at the table's end change).</summary>
    private void MapUnmap(IDmaBacking backing)
    {
        ulong iova = DmaGuestMemory.PagesIova + (ulong)DmaGuestMemory.Bytes + ((ulong)(_next++ % Slots) * DmaGuestMemory.Page);
        DmaGuestMemory.Check(_memory.Many.MapOwned(iova, DmaGuestMemory.Page, DmaAccess.ReadWrite, backing));
        DmaGuestMemory.Check(_memory.Many.Unmap(iova, DmaGuestMemory.Page));
    }
}

/// <summary>Default config plus the median (steadier than the mean on a shared host) and bytes/s.</summary>
public class DmaCopyConfig : ManualConfig
{
    public DmaCopyConfig() => AddColumn(StatisticColumn.Median, new BytesPerSecondColumn());
}

/// <summary>Default config plus the median.</summary>
public class DmaReadConfig : ManualConfig
{
    public DmaReadConfig() => AddColumn(StatisticColumn.Median);
}

/// <summary>Default config plus the median and operations/s.</summary>
public class DmaChurnConfig : ManualConfig
{
    public DmaChurnConfig() => AddColumn(StatisticColumn.Median, StatisticColumn.OperationsPerSecond);
}
