namespace PcieEmu.Pci.Dma;

/// <summary>
/// Walks a <see cref="MappingTable"/> snapshot for a transfer: the one range check, and the moves that follow it.
/// Stateless; the caller (<see cref="DmaController"/>) supplies the snapshot and the read-side section.
/// </summary>
internal static unsafe class TableWalk
{
    /// <summary>
    /// The one range check: finds the mappings under [iova, iova+length) — the first by search (or the last hit),
    /// the rest by walking on while they are contiguous — and checks each allows <paramref name="access"/>. Ok with
    /// the positions of the first and the last, and whether any of them needs the client (<paramref name="remote"/>).
    /// </summary>
    public static DmaResult Resolve(MappingTable table, ulong iova, ulong length, DmaAccess access, bool localOnly,
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

    /// <summary>A transfer that needs the client for some of its range: each mapping is held while its part moves.</summary>
    public static DmaResult TransferCounted<TChunks>(MappingTable table, ulong iova, int length, DmaAccess access, ref TChunks chunks)
        where TChunks : IChunkTransfer, allows ref struct
    {
        var check = Resolve(table, iova, (ulong)length, access, localOnly: false, out var first, out var last, out _);
        return check != DmaResult.Ok ? check : MoveAll(table, first, last, iova, length, counted: true, ref chunks);
    }

    /// <summary>
    /// Moves a resolved range mapping by mapping, from <paramref name="first"/> to <paramref name="last"/>: inside the
    /// caller's read-side section (<paramref name="counted"/> false), or holding each mapping while its part moves.
    /// </summary>
    public static DmaResult MoveAll<TChunks>(MappingTable table, MappingTable.Position first, MappingTable.Position last,
        ulong iova, int length, bool counted, ref TChunks chunks)
        where TChunks : IChunkTransfer, allows ref struct
    {
        ulong cur = iova;
        int done = 0;
        for (var p = first; ; table.Next(ref p))
        {
            var r = table.At(p);
            ulong offset = cur - r.Iova;
            int chunk = (int)Math.Min((ulong)(length - done), r.Size - offset);
            var result = counted ? MoveCounted(r, offset, done, chunk, ref chunks) : MoveLocal(r, offset, done, chunk, ref chunks);
            if (result != DmaResult.Ok)
            {
                return result;
            }

            done += chunk;
            cur += (ulong)chunk;
            if (p == last)
            {
                return DmaResult.Ok;
            }
        }
    }

    /// <summary>One mapping's part of a transfer outside any read-side section: the mapping is held while it moves.</summary>
    private static DmaResult MoveCounted<TChunks>(DmaRegion region, ulong offset, int at, int count, ref TChunks chunks)
        where TChunks : IChunkTransfer, allows ref struct
    {
        if (!region.TryAcquire())
        {
            return DmaResult.Unmapped; // unmapped since the lookup: the rest faults, as on an IOMMU
        }

        try
        {
            return chunks.Move(region.Backing, offset, at, count);
        }
        finally
        {
            region.Release();
        }
    }

    /// <summary>One mapping's part of a local transfer, inside the caller's read-side section: through pinned memory when there is some.</summary>
    public static DmaResult MoveLocal<TChunks>(DmaRegion region, ulong offset, int at, int count, ref TChunks chunks)
        where TChunks : IChunkTransfer, allows ref struct
    {
        if (region.Address != 0 && (!chunks.Stores || region.WritableInPlace))
        {
            chunks.MoveDirect((byte*)region.Address + offset, at, count);
            return DmaResult.Ok;
        }

        return chunks.Move(region.Backing, offset, at, count);
    }
}

/// <summary>Which way a transfer moves its bytes: the caller's buffer to or from guest memory.</summary>
internal unsafe interface IChunkTransfer
{
    /// <summary>Whether this transfer stores into guest memory (a device write).</summary>
    bool Stores { get; }

    /// <summary>Moves bytes [at, at+count) of the caller's buffer to/from <paramref name="offset"/> of a backing.</summary>
    DmaResult Move(IDmaBacking backing, ulong offset, int at, int count);

    /// <summary>Moves bytes [at, at+count) of the caller's buffer to/from pinned guest memory, already range-checked.</summary>
    void MoveDirect(byte* memory, int at, int count);
}

internal readonly unsafe ref struct ReadChunks(Span<byte> destination) : IChunkTransfer
{
    private readonly Span<byte> _destination = destination;

    public bool Stores => false;

    public DmaResult Move(IDmaBacking backing, ulong offset, int at, int count) => backing.Read(offset, _destination.Slice(at, count));

    public void MoveDirect(byte* memory, int at, int count)
    {
        fixed (byte* destination = _destination.Slice(at, count))
        {
            GuestMemoryCopy.Copy(memory, destination, count);
        }
    }
}

internal readonly unsafe ref struct WriteChunks(ReadOnlySpan<byte> source) : IChunkTransfer
{
    private readonly ReadOnlySpan<byte> _source = source;

    public bool Stores => true;

    public DmaResult Move(IDmaBacking backing, ulong offset, int at, int count) => backing.Write(offset, _source.Slice(at, count));

    public void MoveDirect(byte* memory, int at, int count)
    {
        fixed (byte* source = _source.Slice(at, count))
        {
            GuestMemoryCopy.Copy(source, memory, count);
        }
    }
}
