namespace PcieEmu.Pci.Dma;

/// <summary>
/// A ring of fixed-size descriptors in guest memory. Walks are bounded: at most the ring's entry count (or
/// less, if the caller says so) per call, so a guest cannot make the device loop. Entry addresses are
/// <c>base + index × entrySize</c> in wrapping 64-bit arithmetic, as hardware computes them; an address
/// that wraps simply fails to translate.
/// </summary>
public readonly struct DescriptorRing
{
    public const int MaxEntrySize = 256;

    public DescriptorRing(ulong baseAddress, int entrySize, int entryCount)
    {
        if (entrySize is < 1 or > MaxEntrySize)
        {
            throw new ArgumentOutOfRangeException(nameof(entrySize));
        }

        if (entryCount < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(entryCount));
        }

        BaseAddress = baseAddress;
        EntrySize = entrySize;
        EntryCount = entryCount;
    }

    public ulong BaseAddress { get; }

    public int EntrySize { get; }

    public int EntryCount { get; }

    /// <summary>Entry <paramref name="index"/> modulo the ring size (negative indices wrap backwards).</summary>
    public ulong AddressOf(long index) => unchecked(BaseAddress + ((ulong)Wrap(index) * (ulong)EntrySize));

    private int Wrap(long index) => (int)(((index % EntryCount) + EntryCount) % EntryCount);

    /// <summary>Reads entry <paramref name="index"/> (taken modulo the ring size) into <paramref name="entry"/>.</summary>
    public DmaResult Read(IDmaSpace dma, int index, Span<byte> entry) => dma.Read(AddressOf(index), entry[..EntrySize]);

    /// <summary>
    /// Visits entries from <paramref name="startIndex"/>, wrapping, until the visitor returns false, an entry
    /// cannot be read, or <paramref name="maxEntries"/> (capped at the ring size) were visited.
    /// Returns the number visited and the first DMA error, if any.
    /// </summary>
    public (int Visited, DmaResult Result) Walk<TState>(IDmaSpace dma, int startIndex, int maxEntries, ref TState state, Visitor<TState> visitor)
    {
        int limit = Math.Min(maxEntries, EntryCount);
        Span<byte> entry = stackalloc byte[EntrySize];
        for (int i = 0; i < limit; i++)
        {
            int index = Wrap((long)startIndex + i);
            var r = dma.Read(AddressOf(index), entry);
            if (r != DmaResult.Ok)
            {
                return (i, r);
            }

            if (!visitor(index, entry, ref state))
            {
                return (i + 1, DmaResult.Ok);
            }
        }

        return (limit, DmaResult.Ok);
    }

    public delegate bool Visitor<TState>(int index, ReadOnlySpan<byte> entry, ref TState state);
}
