namespace PcieEmu.Pci.Dma;

/// <summary>Memory in a managed array: test fakes and trace replay stand in for guest RAM with it.</summary>
public sealed class ArrayDmaBacking(byte[] memory) : IDmaBacking
{
    private readonly object _sync = new();

    /// <summary>The array itself: offset 0 of the mapping is index 0. Touch it only while no transfer runs.</summary>
    public byte[] Memory { get; } = memory;

    /// <inheritdoc/>
    public string Kind => "array";

    /// <inheritdoc/>
    public DmaResult Read(ulong offset, Span<byte> destination)
    {
        lock (_sync)
        {
            Memory.AsSpan((int)offset, destination.Length).CopyTo(destination);
        }

        return DmaResult.Ok;
    }

    /// <inheritdoc/>
    public DmaResult Write(ulong offset, ReadOnlySpan<byte> source)
    {
        lock (_sync)
        {
            source.CopyTo(Memory.AsSpan((int)offset, source.Length));
        }

        return DmaResult.Ok;
    }

    /// <summary>Nothing to free: the array belongs to whoever made it.</summary>
    public void Dispose()
    {
    }
}
