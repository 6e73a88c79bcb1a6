using Microsoft.Extensions.Logging;
using PcieEmu.Interop;
using PcieEmu.Pci.Observation;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// The function's IOVA → memory table, built from the client's DMA_MAP/DMA_UNMAP (IOMMU-style: each mapping
/// carries the directions it permits). Lookups are lock-free over an immutable sorted array that map and
/// unmap replace; an unmap returns only after transfers already using the mapping have finished.
/// Client arithmetic is checked (overflow ⇒ EINVAL); device arithmetic wraps like hardware and simply
/// fails to translate.
/// </summary>
public sealed partial class DmaController : IDisposable
{
    public const int DefaultMaxMappings = 16384;

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    private readonly object _writeLock = new();
    private readonly ILogger _logger;
    private volatile Region[] _regions = [];
    private long _bytesRead;
    private long _bytesWritten;

    public DmaController(ILogger logger, int maxMappings = DefaultMaxMappings)
    {
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

    /// <summary>The DmaMap record's C field: the access bits, and <see cref="LocalBackingFlag"/> for a local backing.</summary>
    public const ulong LocalBackingFlag = 0x100;

    public int Count => _regions.Length;

    public long BytesRead => Interlocked.Read(ref _bytesRead);

    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>Raised after every successful map or unmap (outside any lock).</summary>
    public event Action? MappingsChanged;

    public IReadOnlyList<DmaMappingInfo> Mappings =>
        Array.ConvertAll(_regions, r => new DmaMappingInfo(r.Iova, r.Size, r.Access, r.Backing.Kind));

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
            var regions = _regions;
            int insertAt = 0;
            foreach (var r in regions)
            {
                if (r.Iova <= last && iova <= r.Last)
                {
                    LogOverlap(_logger, iova, size, r.Iova, r.Size);
                    return Errno.EEXIST;
                }

                if (r.Iova < iova)
                {
                    insertAt++;
                }
            }

            if (regions.Length >= MaxMappings)
            {
                return Errno.ENOSPC;
            }

            var next = new Region[regions.Length + 1];
            Array.Copy(regions, next, insertAt);
            next[insertAt] = new Region(iova, size, access, backing);
            Array.Copy(regions, insertAt, next, insertAt + 1, regions.Length - insertAt);
            _regions = next;
            return 0;
        }
    }

    /// <summary>
    /// Removes the mapping that exactly matches (iova, size). Returns 0 or ENOENT. Waits for in-flight
    /// transfers on it to finish before returning.
    /// </summary>
    public int Unmap(ulong iova, ulong size)
    {
        using var unit = Observation is { } t ? t.Begin(TraceEventKind.DmaUnmap, iova, size) : default;
        Region? victim = null;
        lock (_writeLock)
        {
            var regions = _regions;
            for (int i = 0; i < regions.Length; i++)
            {
                var r = regions[i];
                if (r.Iova != iova || r.Size != size)
                {
                    continue;
                }

                var next = new Region[regions.Length - 1];
                Array.Copy(regions, next, i);
                Array.Copy(regions, i + 1, next, i, regions.Length - i - 1);
                _regions = next;
                victim = r;
                break;
            }
        }

        if (victim is null)
        {
            return Errno.ENOENT;
        }

        Retire(victim);
        MappingsChanged?.Invoke();
        return 0;
    }

    /// <summary>Removes every mapping (client gone, or VFIO_DMA_UNMAP_FLAG_ALL).</summary>
    public void UnmapAll()
    {
        using var unit = Observation is { } t ? t.Begin(TraceEventKind.DmaUnmapAll) : default;
        Region[] old;
        lock (_writeLock)
        {
            old = _regions;
            _regions = [];
        }

        foreach (var r in old)
        {
            Retire(r);
        }

        if (old.Length > 0)
        {
            MappingsChanged?.Invoke();
        }
    }

    private void Retire(Region r)
    {
        r.Backing.Revoke();
        if (!r.RetireAndDrain(DrainTimeout))
        {
            LogDrainTimeout(_logger, r.Iova, r.Size);
        }

        // Safe even if a straggler still copies: mmaps are SafeHandles and unmap on the last release.
        r.Backing.Dispose();
    }

    /// <summary>Is [iova, iova+length) fully mapped for <paramref name="access"/>? Nothing moves.</summary>
    public DmaResult Check(ulong iova, ulong length, DmaAccess access) =>
        Resolve(_regions, iova, length, access, localOnly: false, out _, out _);

    /// <summary>
    /// Device read from guest memory. The whole range is validated before any byte moves (one walk of the table);
    /// a concurrent unmap can still cut a transfer short (as an IOMMU fault would on hardware). With
    /// <paramref name="localOnly"/>, a range any part of which only the client can reach (message DMA) is
    /// <see cref="DmaResult.WouldBlock"/> and nothing moves.
    /// </summary>
    public DmaResult Read(ulong iova, Span<byte> destination, bool localOnly = false)
    {
        var op = new ReadChunks(destination);
        var r = Transfer(iova, destination.Length, DmaAccess.Read, localOnly, ref op);
        if (r == DmaResult.Ok)
        {
            Interlocked.Add(ref _bytesRead, destination.Length);
        }

        return r;
    }

    /// <summary>Device write into guest memory; validated like <see cref="Read"/>.</summary>
    public DmaResult Write(ulong iova, ReadOnlySpan<byte> source, bool localOnly = false)
    {
        var op = new WriteChunks(source);
        var r = Transfer(iova, source.Length, DmaAccess.Write, localOnly, ref op);
        if (r == DmaResult.Ok)
        {
            Interlocked.Add(ref _bytesWritten, source.Length);
        }

        return r;
    }

    /// <summary>
    /// The one range check: finds the mappings under [iova, iova+length) — the first by binary search, the rest by
    /// walking on while they are contiguous — and checks each allows <paramref name="access"/>. Ok with the index
    /// range [<paramref name="first"/>, <paramref name="last"/>] of <paramref name="regions"/>.
    /// </summary>
    private static DmaResult Resolve(Region[] regions, ulong iova, ulong length, DmaAccess access, bool localOnly, out int first, out int last)
    {
        first = last = -1;
        if (length == 0)
        {
            return DmaResult.Ok;
        }

        if (length - 1 > ulong.MaxValue - iova)
        {
            return DmaResult.InvalidRange;
        }

        int i = IndexOf(regions, iova);
        if (i < 0)
        {
            return DmaResult.Unmapped;
        }

        first = i;
        ulong cur = iova;
        ulong remaining = length;
        bool remote = false;
        while (true)
        {
            var r = regions[i];
            if ((r.Access & access) != access)
            {
                return DmaResult.AccessDenied;
            }

            remote |= !r.Backing.IsLocal;
            ulong avail = r.Size - (cur - r.Iova);
            if (remaining <= avail)
            {
                break;
            }

            remaining -= avail;
            cur += avail;
            if (++i == regions.Length || regions[i].Iova != cur)
            {
                return DmaResult.Unmapped;
            }
        }

        last = i;
        return localOnly && remote ? DmaResult.WouldBlock : DmaResult.Ok;
    }

    /// <summary>Resolves the range once, then moves it mapping by mapping, holding each one while its chunk moves.</summary>
    private DmaResult Transfer<TChunks>(ulong iova, int length, DmaAccess access, bool localOnly, ref TChunks chunks)
        where TChunks : IChunkTransfer, allows ref struct
    {
        var regions = _regions;
        var check = Resolve(regions, iova, (ulong)length, access, localOnly, out int first, out int last);
        if (check != DmaResult.Ok || length == 0)
        {
            return check;
        }

        ulong cur = iova;
        int done = 0;
        for (int i = first; i <= last; i++)
        {
            var r = regions[i];
            if (!r.TryAcquire())
            {
                return DmaResult.Unmapped; // unmapped since the check: the rest faults, as on an IOMMU
            }

            try
            {
                ulong offset = cur - r.Iova;
                int chunk = (int)Math.Min((ulong)(length - done), r.Size - offset);
                var result = chunks.Move(r.Backing, offset, done, chunk);
                if (result != DmaResult.Ok)
                {
                    return result;
                }

                done += chunk;
                cur += (ulong)chunk;
            }
            finally
            {
                r.Release();
            }
        }

        return DmaResult.Ok;
    }

    private interface IChunkTransfer
    {
        /// <summary>Moves bytes [at, at+count) of the caller's buffer to/from <paramref name="offset"/> of a backing.</summary>
        DmaResult Move(IDmaBacking backing, ulong offset, int at, int count);
    }

    private readonly ref struct ReadChunks(Span<byte> destination) : IChunkTransfer
    {
        private readonly Span<byte> _destination = destination;

        public DmaResult Move(IDmaBacking backing, ulong offset, int at, int count) => backing.Read(offset, _destination.Slice(at, count));
    }

    private readonly ref struct WriteChunks(ReadOnlySpan<byte> source) : IChunkTransfer
    {
        private readonly ReadOnlySpan<byte> _source = source;

        public DmaResult Move(IDmaBacking backing, ulong offset, int at, int count) => backing.Write(offset, _source.Slice(at, count));
    }

    public void Dispose() => UnmapAll();

    /// <summary>The index of the mapping holding <paramref name="address"/>, or -1.</summary>
    private static int IndexOf(Region[] regions, ulong address)
    {
        int lo = 0;
        int hi = regions.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var r = regions[mid];
            if (address < r.Iova)
            {
                hi = mid - 1;
            }
            else if (address > r.Last)
            {
                lo = mid + 1;
            }
            else
            {
                return mid;
            }
        }

        return -1;
    }

    [LoggerMessage(EventId = 2200, Level = LogLevel.Warning, Message = "DMA_MAP [0x{Iova:x}, +0x{Size:x}) overlaps existing mapping [0x{OtherIova:x}, +0x{OtherSize:x})")]
    private static partial void LogOverlap(ILogger logger, ulong iova, ulong size, ulong otherIova, ulong otherSize);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "Unmap of [0x{Iova:x}, +0x{Size:x}) timed out waiting for in-flight DMA; proceeding")]
    private static partial void LogDrainTimeout(ILogger logger, ulong iova, ulong size);

    private sealed class Region(ulong iova, ulong size, DmaAccess access, IDmaBacking backing)
    {
        private int _users;
        private volatile bool _retired;

        public ulong Iova { get; } = iova;

        public ulong Size { get; } = size;

        public ulong Last { get; } = iova + (size - 1);

        public DmaAccess Access { get; } = access;

        public IDmaBacking Backing { get; } = backing;

        public bool TryAcquire()
        {
            Interlocked.Increment(ref _users);
            if (_retired)
            {
                Interlocked.Decrement(ref _users);
                return false;
            }

            return true;
        }

        public void Release() => Interlocked.Decrement(ref _users);

        public bool RetireAndDrain(TimeSpan timeout)
        {
            _retired = true;
            Interlocked.MemoryBarrier(); // pairs with TryAcquire's increment-then-check: no user can slip past the drain
            var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            var spin = default(SpinWait);
            while (Volatile.Read(ref _users) > 0)
            {
                if (Environment.TickCount64 > deadline)
                {
                    return false;
                }

                spin.SpinOnce(sleep1Threshold: 20);
            }

            return true;
        }
    }
}
