using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Tests;

namespace PcieEmu.Benchmarks;

/// <summary>
/// 64 MiB of guest memory (a size-sealed memfd, as QEMU shares guest RAM) and two <see cref="DmaController"/>s over
/// it, shaped like what the server gets from QEMU: <see cref="One"/> maps all of it once (no vIOMMU: RAM in one
/// DMA_MAP); <see cref="Many"/> holds 16,384 mappings of 4 KiB (a vIOMMU: one DMA_MAP per IOMMU page, contiguous
/// IOVAs, each backed as the server backs it — a view of the file's one shared mmap — the pages scattered in the file
/// as a guest's allocator leaves them); <see cref="InOrder"/> the same 16,384 mappings over pages in file order (a
/// physically contiguous buffer, dma_alloc_coherent's usual result, mapped page by page). Also the whole file mapped
/// contiguously, the memcpy baseline's source.
/// </summary>
public sealed unsafe class DmaGuestMemory : IDisposable
{
    public const int Page = 4096;
    public const int Pages = 16384;
    public const long Bytes = (long)Page * Pages; // 64 MiB
    public const ulong OneIova = 0x1_0000_0000;
    public const ulong PagesIova = 0x2_0000_0000;
    public const ulong InOrderIova = 0x3_0000_0000;

    private readonly SafeFileHandle _memfd;
    private readonly MemoryMapping _whole;
    private readonly SharedFileMappings _files = new();
    private bool _wholeHeld;

    /// <param name="spareMappings">Room in <see cref="Many"/> beyond its 16,384 mappings (for map/unmap churn).</param>
    public DmaGuestMemory(int spareMappings = 0)
    {
        _memfd = MemFd.Create("pcieemu-bench", Bytes, sealSize: true);
        _whole = MemoryMapping.Map(_memfd, 0, (ulong)Bytes, writable: true);
        _whole.DangerousAddRef(ref _wholeHeld);
        Contiguous = (byte*)_whole.DangerousGetHandle();
        Span<byte> pattern = stackalloc byte[Page];
        for (int i = 0; i < Page; i++)
        {
            pattern[i] = (byte)(i * 31);
        }

        for (int p = 0; p < Pages; p++)
        {
            // Every page its own bytes: the pattern, stamped with the page number.
            var page = new Span<byte>(Contiguous + ((long)p * Page), Page);
            pattern.CopyTo(page);
            BinaryPrimitives.WriteInt32LittleEndian(page, p);
        }

        One = new DmaController(NullLogger.Instance);
        Many = new DmaController(NullLogger.Instance, Pages + spareMappings);
        Check(One.MapOwned(OneIova, (ulong)Bytes, DmaAccess.ReadWrite, new MappedDmaBacking(MemoryMapping.Map(_memfd, 0, (ulong)Bytes, writable: true))));
        InOrder = new DmaController(NullLogger.Instance, Pages);
        for (int i = 0; i < Pages; i++)
        {
            Check(Many.MapOwned(PagesIova + ((ulong)i * Page), Page, DmaAccess.ReadWrite, NewPageBacking(Scatter(i))));
            Check(InOrder.MapOwned(InOrderIova + ((ulong)i * Page), Page, DmaAccess.ReadWrite, NewPageBacking(i)));
        }
    }

    /// <summary>All 64 MiB in one mapping at <see cref="OneIova"/>: IOVA OneIova + x is file offset x.</summary>
    public DmaController One { get; }

    /// <summary>16,384 mappings of 4 KiB from <see cref="PagesIova"/>: IOVA page i is file page <see cref="Scatter"/>(i).</summary>
    public DmaController Many { get; }

    /// <summary>16,384 mappings of 4 KiB from <see cref="InOrderIova"/>: IOVA page i is file page i.</summary>
    public DmaController InOrder { get; }

    /// <summary>The whole file, contiguous: the memcpy baseline's source.</summary>
    public byte* Contiguous { get; }

    /// <summary>The file page behind IOVA page <paramref name="page"/> of <see cref="Many"/>: a fixed permutation, so IOVA neighbours are not file neighbours.</summary>
    public static int Scatter(int page) => (int)((long)page * 7919 % Pages); // 7919 is prime, so coprime with 2^14

    /// <summary>A backing for one 4 KiB mapping as the server makes it for a DMA_MAP: a view of file page <paramref name="filePage"/> in the file's shared mmap.</summary>
    public IDmaBacking NewPageBacking(int filePage) =>
        _files.Map(_memfd, (ulong)filePage * Page, Page, writable: true, faultChecked: false);

    /// <summary>A backing with an mmap of its own for file page <paramref name="filePage"/> (what the server made per DMA_MAP before sharing).</summary>
    public IDmaBacking NewPrivatePageBacking(int filePage) =>
        new MappedDmaBacking(MemoryMapping.Map(_memfd, (ulong)filePage * Page, Page, writable: true));

    public void Dispose()
    {
        One.Dispose();
        Many.Dispose();
        InOrder.Dispose();
        if (_wholeHeld)
        {
            _whole.DangerousRelease();
            _wholeHeld = false;
        }

        _whole.Dispose();
        _memfd.Dispose();
    }

    /// <summary>Throws unless a map or unmap succeeded (errno 0).</summary>
    public static void Check(int errno)
    {
        if (errno != 0)
        {
            throw new InvalidOperationException($"DMA map/unmap failed: errno {errno}");
        }
    }

    /// <summary>Throws unless a transfer succeeded: a benchmark must not time a refusal.</summary>
    public static void Check(DmaResult result)
    {
        if (result != DmaResult.Ok)
        {
            throw new InvalidOperationException($"DMA transfer failed: {result}");
        }
    }
}
