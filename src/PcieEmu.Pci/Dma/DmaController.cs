using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using PcieEmu.Interop;
using PcieEmu.Pci.Observation;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// The function's IOVA → memory table, built from the client's DMA_MAP/DMA_UNMAP (IOMMU-style: each mapping
/// carries the directions it permits). Lookups are lock-free over an immutable <see cref="MappingTable"/> that map
/// and unmap replace; an unmap returns only after transfers already using its mappings have finished.
/// <para>
/// Semantics are the kernel's VFIO type1 (v2) ones, which QEMU's client relies on with a vIOMMU: a map overlapping
/// an existing one (an exact duplicate included) is EEXIST; an unmap removes every mapping that lies wholly inside
/// its range — several, one, or none (then it succeeds having unmapped nothing) — and refuses, with EINVAL and
/// nothing removed, a range that cuts through a mapping (starts or ends inside one).
/// </para>
/// Client arithmetic is checked (overflow ⇒ EINVAL); device arithmetic wraps like hardware and simply fails to
/// translate.
/// </summary>
public sealed unsafe partial class DmaController : IDisposable
{
    /// <summary>How many mappings a table holds unless told otherwise: a vIOMMU guest's page-by-page maps, with room.</summary>
    public const int DefaultMaxMappings = 16384;

    /// <summary>The DmaMap record's C field: the access bits, and <see cref="LocalBackingFlag"/> for a local backing.</summary>
    public const ulong LocalBackingFlag = 0x100;

    private static readonly TimeSpan DefaultDrainTimeout = TimeSpan.FromSeconds(2);

    private readonly object _writeLock = new();
    private readonly MappingRetirement _retirement;
    private readonly ILogger _logger;
    private volatile MappingTable _table = MappingTable.Empty;

    /// <summary>
    /// Where in the table the last transfer started (<see cref="MappingTable.Position.Packed"/>): repeated transfers
    /// into one buffer start there instead of searching. One word any transfer thread overwrites, and only a hint: it
    /// is used when the entry at that position of the table the transfer read holds its first address, so a stale,
    /// racing or out-of-range value costs a search, never a wrong mapping (the entry is the current table's own).
    /// </summary>
    private long _hint = -1;

    /// <summary>An empty table that holds at most <paramref name="maxMappings"/> mappings (at least 1, else <see cref="ArgumentOutOfRangeException"/>).</summary>
    public DmaController(ILogger logger, int maxMappings = DefaultMaxMappings)
        : this(logger, maxMappings, DefaultDrainTimeout)
    {
    }

    internal DmaController(ILogger logger, int maxMappings, TimeSpan drainTimeout)
    {
        _retirement = new MappingRetirement(logger, drainTimeout);
        if (maxMappings < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxMappings));
        }

        _logger = logger;
        MaxMappings = maxMappings;
    }

    /// <summary>The most mappings the table holds; a map beyond it is ENOSPC.</summary>
    public int MaxMappings { get; }

    /// <summary>Set by <see cref="PciFunction.Observe"/>: map and unmap are then observed units.</summary>
    internal FunctionObservation? Observation { get; set; }

    /// <summary>Mappings in the table now.</summary>
    public int Count => _table.Count;

    /// <summary>Raised after every successful map or unmap that changed the table (outside any lock).</summary>
    public event Action? MappingsChanged;

    /// <summary>A snapshot of the table, in IOVA order (a copy: for tests, stats and logs, not for the transfer path).</summary>
    public IReadOnlyList<DmaMappingInfo> Mappings =>
        [.. _table.All().Select(r => new DmaMappingInfo(r.Iova, r.Size, r.Access, r.Backing.Kind))];

    /// <summary>
    /// Adds a mapping and takes ownership of <paramref name="backing"/> (also on failure, when it is disposed).
    /// Returns 0, EINVAL (empty or wrapping range, no access), EEXIST (overlap, an exact duplicate included, as the
    /// protocol and the kernel's VFIO type1 map say) or ENOSPC (table full).
    /// </summary>
    public int Map(ulong iova, ulong size, DmaAccess access, IDmaBacking backing)
    {
        using var unit = Observation is { } t ? t.Begin(TraceEventKind.DmaMap, iova, size, (ulong)access | (backing.IsLocal ? LocalBackingFlag : 0)) : default;
        int errno = MapCore(iova, size, access, backing);
        if (errno != 0)
        {
            backing.Dispose();
        }
        else
        {
            MappingsChanged?.Invoke();
        }

        return errno;
    }

    private int MapCore(ulong iova, ulong size, DmaAccess access, IDmaBacking backing)
    {
        if (size == 0 || size - 1 > ulong.MaxValue - iova || access == DmaAccess.None)
        {
            return Errno.EINVAL;
        }

        ulong last = iova + (size - 1);
        lock (_writeLock)
        {
            var table = _table;
            if (table.FindOverlap(iova, last) is { } other)
            {
                LogOverlap(_logger, iova, size, other.Iova, other.Size);
                return Errno.EEXIST;
            }

            if (table.Count >= MaxMappings)
            {
                return Errno.ENOSPC;
            }

            _table = table.Insert(new DmaRegion(iova, size, access, backing));
            return 0;
        }
    }

    /// <summary>
    /// Removes every mapping wholly inside [iova, iova+size) (VFIO type1 semantics, see the type's remarks) and
    /// returns 0 with <paramref name="unmapped"/> bytes removed (0 when the range held none), or EINVAL (empty or
    /// wrapping range, or one that cuts through a mapping; nothing is removed). Waits for in-flight transfers on
    /// the removed mappings to finish before returning.
    /// </summary>
    public int Unmap(ulong iova, ulong size, out ulong unmapped)
    {
        using var unit = Observation is { } t ? t.Begin(TraceEventKind.DmaUnmap, iova, size) : default;
        unmapped = 0;
        if (size == 0 || size - 1 > ulong.MaxValue - iova)
        {
            return Errno.EINVAL;
        }

        ulong last = iova + (size - 1);
        List<DmaRegion> victims = [];
        lock (_writeLock)
        {
            var table = _table;
            if ((table.TryFind(iova, out var p) && table.At(p).Iova != iova) || (table.TryFind(last, out p) && table.At(p).Last != last))
            {
                LogUnmapCutsMapping(_logger, iova, size);
                return Errno.EINVAL;
            }

            if (!table.TryFindFirstEndingAtOrAfter(iova, out var first) || table.At(first).Iova > last)
            {
                return 0; // nothing there: type1 unmaps nothing and succeeds
            }

            var end = first;
            victims.Add(table.At(first));
            var next = first;
            while (table.Next(ref next) && table.At(next).Last <= last)
            {
                victims.Add(table.At(next));
                end = next;
            }

            _table = table.Remove(first, end);
            foreach (var r in victims)
            {
                r.MarkRetired();
            }
        }

        foreach (var r in victims)
        {
            unmapped += r.Size;
        }

        _retirement.Retire(victims);

        MappingsChanged?.Invoke();
        return 0;
    }

    /// <summary>Removes the mappings in [iova, iova+size); see <see cref="Unmap(ulong, ulong, out ulong)"/>.</summary>
    public int Unmap(ulong iova, ulong size) => Unmap(iova, size, out _);

    /// <summary>Removes every mapping (client gone, or VFIO_DMA_UNMAP_FLAG_ALL).</summary>
    public void UnmapAll()
    {
        using var unit = Observation is { } t ? t.Begin(TraceEventKind.DmaUnmapAll) : default;
        MappingTable old;
        lock (_writeLock)
        {
            old = _table;
            _table = MappingTable.Empty;
            foreach (var r in old.All())
            {
                r.MarkRetired();
            }
        }

        _retirement.Retire([.. old.All()]);

        if (old.Count > 0)
        {
            MappingsChanged?.Invoke();
        }
    }

    /// <summary>Is [iova, iova+length) fully mapped for <paramref name="access"/>? Nothing moves.</summary>
    public DmaResult Check(ulong iova, ulong length, DmaAccess access) =>
        TableWalk.Resolve(_table, iova, length, access, localOnly: false, start: null, out _, out _);

    /// <summary>
    /// The first address of [iova, iova+length) that a transfer needing <paramref name="access"/> cannot reach — the
    /// first faulting IOVA an IOMMU would report — or null when the whole range is reachable. A range running past
    /// 2^64 − 1 faults where it wraps, at 0.
    /// </summary>
    public ulong? FirstFault(ulong iova, ulong length, DmaAccess access)
    {
        if (length == 0)
        {
            return null;
        }

        bool wraps = length - 1 > ulong.MaxValue - iova;
        ulong last = wraps ? ulong.MaxValue : iova + (length - 1);
        var table = _table;
        if (!table.TryFind(iova, out var p))
        {
            return iova;
        }

        ulong cur = iova;
        while (true)
        {
            var r = table.At(p);
            if ((r.Access & access) != access)
            {
                return cur;
            }

            if (r.Last >= last)
            {
                return wraps ? 0 : null;
            }

            cur = r.Last + 1;
            if (!table.Next(ref p) || table.At(p).Iova != cur)
            {
                return cur;
            }
        }
    }

    /// <summary>
    /// Device read from guest memory. The whole range is validated before any byte moves (one walk of the table);
    /// a concurrent unmap can still cut a transfer short (as an IOMMU fault would on hardware). With
    /// <paramref name="localOnly"/>, a range any part of which only the client can reach (message DMA) is
    /// <see cref="DmaResult.WouldBlock"/> and nothing moves.
    /// </summary>
    public DmaResult Read(ulong iova, Span<byte> destination, bool localOnly = false)
    {
        var op = new ReadChunks(destination);
        return Transfer(iova, destination.Length, DmaAccess.Read, localOnly, ref op);
    }

    /// <summary>Device write into guest memory; validated like <see cref="Read"/>.</summary>
    public DmaResult Write(ulong iova, ReadOnlySpan<byte> source, bool localOnly = false)
    {
        var op = new WriteChunks(source);
        return Transfer(iova, source.Length, DmaAccess.Write, localOnly, ref op);
    }

    /// <summary>
    /// Resolves the range once, then moves it mapping by mapping. Over local memory (every mapping the server
    /// mmapped, and in-process arrays) the whole transfer is one read-side section and copies straight through pinned
    /// memory; a range that needs the client moves outside it, counting itself on each mapping instead.
    /// </summary>
    private DmaResult Transfer<TChunks>(ulong iova, int length, DmaAccess access, bool localOnly, ref TChunks chunks)
        where TChunks : IChunkTransfer, allows ref struct
    {
        if (length == 0)
        {
            return DmaResult.Ok;
        }

        var reader = TransferEpochs.Enter();
        try
        {
            var table = _table;
            var at = MappingTable.Position.Unpack(Volatile.Read(ref _hint));
            ref readonly var entry = ref table.EntryHolding(at, iova);
            bool hinted = !Unsafe.IsNullRef(in entry);
            if (!hinted && table.TryFind(iova, out at))
            {
                entry = ref table.EntryAt(at);
            }

            MappingTable.Position? start = null;
            if (!Unsafe.IsNullRef(in entry))
            {
                if ((ulong)(length - 1) <= entry.Size - 1 - (iova - entry.Iova) && (entry.Access & access) == access
                    && entry.IsLocal && entry.CopiesInPlace(chunks.Stores))
                {
                    // Within one pinned mapping (the one the last transfer started in, or the one the search found):
                    // no walk. The entry is the table's that this section read, so an unmap that removed it since
                    // waits for this copy.
                    chunks.MoveDirect((byte*)entry.Address + (iova - entry.Iova), 0, length);
                    if (!hinted)
                    {
                        Volatile.Write(ref _hint, at.Packed);
                    }

                    return DmaResult.Ok;
                }

                start = at; // goes on past it (or needs its backing): the walk starts there
            }

            var check = TableWalk.Resolve(table, iova, (ulong)length, access, localOnly, start, out var first, out bool remote);
            if (check != DmaResult.Ok)
            {
                return check;
            }

            if (!remote)
            {
                var moved = TableWalk.MoveAll(table, first, iova, length, counted: false, ref chunks);
                if (moved == DmaResult.Ok && !hinted)
                {
                    Volatile.Write(ref _hint, first.Packed);
                }

                return moved;
            }
        }
        finally
        {
            TransferEpochs.Exit(reader);
        }

        return TableWalk.TransferCounted(_table, iova, length, access, ref chunks);
    }

    /// <summary>Unmaps everything (<see cref="UnmapAll"/>), waiting for transfers in flight as an unmap does.</summary>
    public void Dispose() => UnmapAll();

    [LoggerMessage(EventId = 2200, Level = LogLevel.Warning, Message = "DMA_MAP [0x{Iova:x}, +0x{Size:x}) overlaps existing mapping [0x{OtherIova:x}, +0x{OtherSize:x})")]
    private static partial void LogOverlap(ILogger logger, ulong iova, ulong size, ulong otherIova, ulong otherSize);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Warning, Message = "DMA_UNMAP [0x{Iova:x}, +0x{Size:x}) cuts through a mapping (VFIO type1 refuses that): nothing unmapped")]
    private static partial void LogUnmapCutsMapping(ILogger logger, ulong iova, ulong size);
}
