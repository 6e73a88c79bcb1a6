using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// An immutable, sorted set of non-overlapping mappings, in chunks of at most <see cref="MaxChunk"/>. Lookups are a
/// binary search over the chunks' first addresses, then one within a chunk (both over plain ulong arrays). A change
/// builds a new table that shares every chunk it does not touch: a map or an unmap among 16,384 mappings copies a
/// few hundred references, not the whole table, so map/unmap churn stays cheap while readers never lock.
/// </summary>
internal sealed class MappingTable
{
    public const int MaxChunk = 64;

    public static readonly MappingTable Empty = new([], []);

    private readonly Chunk[] _chunks;
    private readonly ulong[] _firsts;

    private MappingTable(Chunk[] chunks, ulong[] firsts)
    {
        _chunks = chunks;
        _firsts = firsts;
        foreach (var c in chunks)
        {
            Count += c.Regions.Length;
        }
    }

    public int Count { get; }

    /// <summary>The mapping at a position.</summary>
    public DmaRegion At(Position p) => _chunks[p.Chunk].Regions[p.Index];

    /// <summary>The walk fields of the mapping at a position.</summary>
    public ref readonly Entry EntryAt(Position p) => ref _chunks[p.Chunk].Entries[p.Index];

    /// <summary>The position after <paramref name="p"/>; false at the end.</summary>
    public bool Next(ref Position p)
    {
        if (p.Index + 1 < _chunks[p.Chunk].Regions.Length)
        {
            p = new Position(p.Chunk, p.Index + 1);
            return true;
        }

        if (p.Chunk + 1 < _chunks.Length)
        {
            p = new Position(p.Chunk + 1, 0);
            return true;
        }

        return false;
    }

    /// <summary>The mapping holding <paramref name="address"/>.</summary>
    public bool TryFind(ulong address, out Position position)
    {
        position = default;
        int c = LastAtOrBelow(_firsts, address);
        if (c < 0)
        {
            return false;
        }

        var chunk = _chunks[c];
        int i = LastAtOrBelow(chunk.Starts, address);
        if (i < 0 || address > chunk.Regions[i].Last)
        {
            return false;
        }

        position = new Position(c, i);
        return true;
    }

    /// <summary>The first mapping that ends at or after <paramref name="address"/> (it may start after it).</summary>
    public bool TryFindFirstEndingAtOrAfter(ulong address, out Position position)
    {
        position = default;
        if (Count == 0)
        {
            return false;
        }

        int c = Math.Max(0, LastAtOrBelow(_firsts, address));
        int i = Math.Max(0, LastAtOrBelow(_chunks[c].Starts, address));
        position = new Position(c, i);
        while (At(position).Last < address)
        {
            if (!Next(ref position))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A mapping that overlaps [first, last], if any.</summary>
    public DmaRegion? FindOverlap(ulong first, ulong last) =>
        TryFindFirstEndingAtOrAfter(first, out var p) && At(p).Iova <= last ? At(p) : null;

    public IEnumerable<DmaRegion> All()
    {
        foreach (var c in _chunks)
        {
            foreach (var r in c.Regions)
            {
                yield return r;
            }
        }
    }

    /// <summary>A table with <paramref name="region"/> added (it must not overlap any).</summary>
    public MappingTable Insert(DmaRegion region)
    {
        if (_chunks.Length == 0)
        {
            return new MappingTable([new Chunk([region])], [region.Iova]);
        }

        int c = Math.Max(0, LastAtOrBelow(_firsts, region.Iova));
        var regions = _chunks[c].Regions;
        int at = LastAtOrBelow(_chunks[c].Starts, region.Iova) + 1;
        var grown = new DmaRegion[regions.Length + 1];
        Array.Copy(regions, grown, at);
        grown[at] = region;
        Array.Copy(regions, at, grown, at + 1, regions.Length - at);
        Chunk[] replacement = grown.Length <= MaxChunk
            ? [new Chunk(grown)]
            : [new Chunk(grown[..(grown.Length / 2)]), new Chunk(grown[(grown.Length / 2)..])];
        return Replace(c, c + 1, replacement);
    }

    /// <summary>A table without the mappings from <paramref name="first"/> to <paramref name="last"/> (inclusive, in order).</summary>
    public MappingTable Remove(Position first, Position last)
    {
        var kept = new List<DmaRegion>();
        var head = _chunks[first.Chunk].Regions;
        kept.AddRange(head[..first.Index]);
        var tail = _chunks[last.Chunk].Regions;
        kept.AddRange(tail[(last.Index + 1)..]);
        Chunk[] replacement = kept.Count == 0 ? [] : Split(kept);
        return Replace(first.Chunk, last.Chunk + 1, replacement);
    }

    private static Chunk[] Split(List<DmaRegion> regions)
    {
        int n = (regions.Count + MaxChunk - 1) / MaxChunk;
        var chunks = new Chunk[n];
        for (int i = 0; i < n; i++)
        {
            int from = i * regions.Count / n;
            int to = (i + 1) * regions.Count / n;
            chunks[i] = new Chunk([.. regions.GetRange(from, to - from)]);
        }

        return chunks;
    }

    /// <summary>A table whose chunks [from, to) are replaced by <paramref name="replacement"/>.</summary>
    private MappingTable Replace(int from, int to, Chunk[] replacement)
    {
        var chunks = new Chunk[_chunks.Length - (to - from) + replacement.Length];
        Array.Copy(_chunks, chunks, from);
        Array.Copy(replacement, 0, chunks, from, replacement.Length);
        Array.Copy(_chunks, to, chunks, from + replacement.Length, _chunks.Length - to);
        var firsts = new ulong[chunks.Length];
        for (int i = 0; i < chunks.Length; i++)
        {
            firsts[i] = chunks[i].Starts[0];
        }

        return new MappingTable(chunks, firsts);
    }

    /// <summary>
    /// The index of the last element ≤ <paramref name="value"/>, or -1. Branch-free (the JIT turns the step into a
    /// conditional move): a search among 16,384 mappings is 14 steps whose direction no predictor can guess, and a
    /// mispredicted branch per step cost more than the rest of a 16-byte transfer.
    /// </summary>
    private static int LastAtOrBelow(ulong[] sorted, ulong value)
    {
        int length = sorted.Length;
        if (length == 0)
        {
            return -1;
        }

        ref ulong first = ref MemoryMarshal.GetArrayDataReference(sorted);
        int lo = 0;
        while (length > 1)
        {
            // The answer stays in [lo, lo + length): past mid when sorted[mid] ≤ value, else before it.
            int half = length >>> 1;
            int mid = lo + half;
            lo = Unsafe.Add(ref first, mid) <= value ? mid : lo;
            length -= half;
        }

        return Unsafe.Add(ref first, lo) <= value ? lo : -1;
    }

    /// <summary>Where a mapping is: chunk and index in it.</summary>
    public readonly record struct Position(int Chunk, int Index)
    {
        /// <summary>Both halves in one word, so a hint kept between transfers is written and read whole.</summary>
        public long Packed => ((long)Chunk << 32) | (uint)Index;

        /// <summary>The position <see cref="Packed"/> made; any word gives some position, which <see cref="EntryHolding"/> checks.</summary>
        public static Position Unpack(long packed) => new((int)(packed >> 32), (int)packed);
    }

    /// <summary>
    /// The entry at <paramref name="p"/> when it holds <paramref name="address"/>, else a null reference (also for a
    /// position outside this table): checks a position kept from another table against this one.
    /// </summary>
    public ref readonly Entry EntryHolding(Position p, ulong address)
    {
        if ((uint)p.Chunk < (uint)_chunks.Length)
        {
            var entries = _chunks[p.Chunk].Entries;
            if ((uint)p.Index < (uint)entries.Length)
            {
                ref readonly var e = ref entries[p.Index];
                if (address - e.Iova < e.Size)
                {
                    return ref e;
                }
            }
        }

        return ref Unsafe.NullRef<Entry>();
    }

    /// <summary>
    /// A walk from a position onwards that keeps its chunk's array at hand: a step is one load, where
    /// <see cref="At"/> after <see cref="Next"/> is four dependent ones (15 ns a page through 16 pages, measured).
    /// </summary>
    public ref struct Cursor
    {
        private readonly Chunk[] _chunks;
        private Chunk _current;
        private Entry[] _entries;
        private int _chunk;
        private int _index;

        public Cursor(MappingTable table, Position start)
        {
            _chunks = table._chunks;
            _chunk = start.Chunk;
            _current = _chunks[_chunk];
            _entries = _current.Entries;
            _index = start.Index;
        }

        /// <summary>The walk fields of the mapping the walk is at.</summary>
        public readonly ref readonly Entry Entry => ref _entries[_index];

        /// <summary>The mapping the walk is at, for what <see cref="Entry"/> does not hold (its backing, its user count).</summary>
        public readonly DmaRegion Region => _current.Regions[_index];

        /// <summary>Steps to the next mapping; false (staying put) at the end of the table.</summary>
        public bool MoveNext()
        {
            if (_index + 1 < _entries.Length)
            {
                _index++;
                return true;
            }

            if (_chunk + 1 >= _chunks.Length)
            {
                return false;
            }

            _current = _chunks[++_chunk];
            _entries = _current.Entries;
            _index = 0;
            return true;
        }
    }

    /// <summary>
    /// What a transfer's walk reads of a mapping, copied flat into its chunk: a walk across many mappings reads
    /// consecutive memory, two mappings a cache line, instead of one object per mapping wherever the heap put it
    /// (through 257 mappings of a 1 MiB transfer the objects fell out of cache behind the copy). A mapping's fields
    /// never change, so the copy cannot go stale.
    /// </summary>
    public readonly struct Entry(DmaRegion region)
    {
        public ulong Iova { get; } = region.Iova;

        public ulong Size { get; } = region.Size;

        /// <summary><see cref="DmaRegion.Address"/>: pinned memory, or 0.</summary>
        public nint Address { get; } = region.Address;

        public DmaAccess Access { get; } = region.Access;

        public bool IsLocal { get; } = region.IsLocal;

        public bool WritableInPlace { get; } = region.WritableInPlace;

        /// <summary>Whether a transfer that <paramref name="stores"/> (or only loads) may copy straight through <see cref="Address"/>.</summary>
        public bool CopiesInPlace(bool stores) => Address != 0 && (!stores || WritableInPlace);
    }

    private sealed class Chunk
    {
        public Chunk(DmaRegion[] regions)
        {
            Regions = regions;
            Starts = Array.ConvertAll(regions, r => r.Iova);
            Entries = Array.ConvertAll(regions, r => new Entry(r));
        }

        public DmaRegion[] Regions { get; }

        public ulong[] Starts { get; }

        /// <summary>The regions' walk fields, index for index.</summary>
        public Entry[] Entries { get; }
    }
}
