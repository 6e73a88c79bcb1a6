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
    public const int DefaultMaxMappings = 16384;

    /// <summary>The DmaMap record's C field: the access bits, and <see cref="LocalBackingFlag"/> for a local backing.</summary>
    public const ulong LocalBackingFlag = 0x100;

    private static readonly TimeSpan DefaultDrainTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How long an unmap waits for transfers still using its mappings before it goes on without freeing them.</summary>
    private readonly TimeSpan _drainTimeout;

    private readonly object _writeLock = new();

    /// <summary>Serializes retirements and guards the list of what a timed-out wait left.</summary>
    private readonly object _retireLock = new();
    private readonly List<(long GracePeriod, DmaRegion Region)> _undrained = [];
    private readonly ILogger _logger;
    private volatile MappingTable _table = MappingTable.Empty;

    /// <summary>The mapping the last transfer started in: repeated transfers into one buffer skip the search.</summary>
    private volatile DmaRegion? _lastHit;

    public DmaController(ILogger logger, int maxMappings = DefaultMaxMappings)
        : this(logger, maxMappings, DefaultDrainTimeout)
    {
    }

    internal DmaController(ILogger logger, int maxMappings, TimeSpan drainTimeout)
    {
        _drainTimeout = drainTimeout;
        if (maxMappings < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxMappings));
        }

        _logger = logger;
        MaxMappings = maxMappings;
    }

    public int MaxMappings { get; }

    /// <summary>Set by <see cref="PciFunction.Observe"/>: map and unmap are then observed units.</summary>
    internal FunctionObservation? Observation { get; set; }

    public int Count => _table.Count;

    /// <summary>Raised after every successful map or unmap that changed the table (outside any lock).</summary>
    public event Action? MappingsChanged;

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

        Retire(victims);

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

        Retire([.. old.All()]);

        if (old.Count > 0)
        {
            MappingsChanged?.Invoke();
        }
    }

    /// <summary>
    /// Frees mappings already out of the table and marked retired: fails what waits on the client, waits for the
    /// transfers still using them (a grace period, and per-mapping users), then unpins and disposes their memory.
    /// Memory a transfer may still touch after a timed-out wait is never freed under it: it is kept until a later
    /// retirement finds that grace period over.
    /// </summary>
    private void Retire(IReadOnlyList<DmaRegion> victims)
    {
        foreach (var r in victims)
        {
            r.Backing.Revoke();
        }

        lock (_retireLock)
        {
            if (victims.Count == 0 && _undrained.Count == 0)
            {
                return;
            }

            var (period, ended) = TransferEpochs.WaitForReaders(_drainTimeout);
            foreach (var r in victims)
            {
                if (ended && r.DrainUsers(_drainTimeout))
                {
                    r.ReleaseMemory();
                }
                else
                {
                    LogDrainTimeout(_logger, r.Iova, r.Size);
                    _undrained.Add((period, r));
                }
            }

            ReleaseUndrained();
        }
    }

    /// <summary>Frees what earlier timed-out waits kept, once their grace period is over. Under the retire lock.</summary>
    private void ReleaseUndrained()
    {
        for (int i = _undrained.Count - 1; i >= 0; i--)
        {
            var (period, r) = _undrained[i];
            if (TransferEpochs.HasEnded(period) && r.DrainUsers(TimeSpan.Zero))
            {
                r.ReleaseMemory();
                _undrained.RemoveAt(i);
            }
        }
    }

    /// <summary>Is [iova, iova+length) fully mapped for <paramref name="access"/>? Nothing moves.</summary>
    public DmaResult Check(ulong iova, ulong length, DmaAccess access) =>
        Resolve(_table, iova, length, access, localOnly: false, out _, out _, out _);

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
    /// The one range check: finds the mappings under [iova, iova+length) — the first by search (or the last hit),
    /// the rest by walking on while they are contiguous — and checks each allows <paramref name="access"/>. Ok with
    /// the positions of the first and the last, and whether any of them needs the client (<paramref name="remote"/>).
    /// </summary>
    private static DmaResult Resolve(MappingTable table, ulong iova, ulong length, DmaAccess access, bool localOnly,
        out MappingTable.Position first, out MappingTable.Position last, out bool remote)
    {
        first = last = default;
        remote = false;
        if (length == 0)
        {
            return DmaResult.Ok;
        }

        if (length - 1 > ulong.MaxValue - iova)
        {
            return DmaResult.InvalidRange;
        }

        if (!table.TryFind(iova, out first))
        {
            return DmaResult.Unmapped;
        }

        var p = first;
        ulong cur = iova;
        ulong remaining = length;
        while (true)
        {
            var r = table.At(p);
            if ((r.Access & access) != access)
            {
                return DmaResult.AccessDenied;
            }

            remote |= !r.IsLocal;
            ulong avail = r.Size - (cur - r.Iova);
            if (remaining <= avail)
            {
                break;
            }

            remaining -= avail;
            cur += avail;
            if (!table.Next(ref p) || table.At(p).Iova != cur)
            {
                return DmaResult.Unmapped;
            }
        }

        last = p;
        return localOnly && remote ? DmaResult.WouldBlock : DmaResult.Ok;
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
            if (_lastHit is { IsRetired: false, IsLocal: true } hit && iova >= hit.Iova && iova <= hit.Last
                && (ulong)(length - 1) <= hit.Last - iova && (hit.Access & access) == access)
            {
                // Within the mapping the last transfer used: no search. Retired is set before the grace period
                // starts, so a mapping being unmapped is either seen retired here or waited for.
                return MoveLocal(hit, iova - hit.Iova, 0, length, ref chunks);
            }

            var table = _table;
            var check = Resolve(table, iova, (ulong)length, access, localOnly, out var first, out var last, out bool remote);
            if (check != DmaResult.Ok)
            {
                return check;
            }

            if (!remote)
            {
                ulong cur = iova;
                int done = 0;
                for (var p = first; ; table.Next(ref p))
                {
                    var r = table.At(p);
                    ulong offset = cur - r.Iova;
                    int chunk = (int)Math.Min((ulong)(length - done), r.Size - offset);
                    var result = MoveLocal(r, offset, done, chunk, ref chunks);
                    if (result != DmaResult.Ok)
                    {
                        return result;
                    }

                    done += chunk;
                    cur += (ulong)chunk;
                    if (p == last)
                    {
                        _lastHit = table.At(first);
                        return DmaResult.Ok;
                    }
                }
            }
        }
        finally
        {
            TransferEpochs.Exit(reader);
        }

        return TransferCounted(iova, length, access, ref chunks);
    }

    /// <summary>A transfer that needs the client for some of its range: each mapping is held while its part moves.</summary>
    private DmaResult TransferCounted<TChunks>(ulong iova, int length, DmaAccess access, ref TChunks chunks)
        where TChunks : IChunkTransfer, allows ref struct
    {
        var table = _table;
        var check = Resolve(table, iova, (ulong)length, access, localOnly: false, out var first, out var last, out _);
        if (check != DmaResult.Ok)
        {
            return check;
        }

        ulong cur = iova;
        int done = 0;
        for (var p = first; ; table.Next(ref p))
        {
            var r = table.At(p);
            ulong offset = cur - r.Iova;
            int chunk = (int)Math.Min((ulong)(length - done), r.Size - offset);
            if (!r.TryAcquire())
            {
                return DmaResult.Unmapped; // unmapped since the lookup: the rest faults, as on an IOMMU
            }

            try
            {
                var result = chunks.Move(r.Backing, offset, done, chunk);
                if (result != DmaResult.Ok)
                {
                    return result;
                }
            }
            finally
            {
                r.Release();
            }

            done += chunk;
            cur += (ulong)chunk;
            if (p == last)
            {
                return DmaResult.Ok;
            }
        }
    }

    /// <summary>One mapping's part of a local transfer, inside the caller's read-side section: through pinned memory when there is some.</summary>
    private static DmaResult MoveLocal<TChunks>(DmaRegion region, ulong offset, int at, int count, ref TChunks chunks)
        where TChunks : IChunkTransfer, allows ref struct
    {
        if (region.Address != 0 && (!chunks.Stores || region.WritableInPlace))
        {
            chunks.MoveDirect((byte*)region.Address + offset, at, count);
            return DmaResult.Ok;
        }

        return chunks.Move(region.Backing, offset, at, count);
    }

    private interface IChunkTransfer
    {
        /// <summary>Whether this transfer stores into guest memory (a device write).</summary>
        bool Stores { get; }

        /// <summary>Moves bytes [at, at+count) of the caller's buffer to/from <paramref name="offset"/> of a backing.</summary>
        DmaResult Move(IDmaBacking backing, ulong offset, int at, int count);

        /// <summary>Moves bytes [at, at+count) of the caller's buffer to/from pinned guest memory, already range-checked.</summary>
        void MoveDirect(byte* memory, int at, int count);
    }

    private readonly ref struct ReadChunks(Span<byte> destination) : IChunkTransfer
    {
        private readonly Span<byte> _destination = destination;

        public bool Stores => false;

        public DmaResult Move(IDmaBacking backing, ulong offset, int at, int count) => backing.Read(offset, _destination.Slice(at, count));

        public void MoveDirect(byte* memory, int at, int count) => new ReadOnlySpan<byte>(memory, count).CopyTo(_destination.Slice(at, count));
    }

    private readonly ref struct WriteChunks(ReadOnlySpan<byte> source) : IChunkTransfer
    {
        private readonly ReadOnlySpan<byte> _source = source;

        public bool Stores => true;

        public DmaResult Move(IDmaBacking backing, ulong offset, int at, int count) => backing.Write(offset, _source.Slice(at, count));

        public void MoveDirect(byte* memory, int at, int count) => _source.Slice(at, count).CopyTo(new Span<byte>(memory, count));
    }

    public void Dispose() => UnmapAll();

    [LoggerMessage(EventId = 2200, Level = LogLevel.Warning, Message = "DMA_MAP [0x{Iova:x}, +0x{Size:x}) overlaps existing mapping [0x{OtherIova:x}, +0x{OtherSize:x})")]
    private static partial void LogOverlap(ILogger logger, ulong iova, ulong size, ulong otherIova, ulong otherSize);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "Unmap of [0x{Iova:x}, +0x{Size:x}) timed out waiting for in-flight DMA: unmapped, its memory kept until that transfer is done")]
    private static partial void LogDrainTimeout(ILogger logger, ulong iova, ulong size);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Warning, Message = "DMA_UNMAP [0x{Iova:x}, +0x{Size:x}) cuts through a mapping (VFIO type1 refuses that): nothing unmapped")]
    private static partial void LogUnmapCutsMapping(ILogger logger, ulong iova, ulong size);
}
