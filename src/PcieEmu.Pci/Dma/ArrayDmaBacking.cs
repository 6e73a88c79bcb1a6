namespace PcieEmu.Pci.Dma;

/// <summary>Memory in a managed array: test fakes and trace replay stand in for guest RAM with it.</summary>
public sealed class ArrayDmaBacking(byte[] memory) : IDmaBacking
{
    private readonly object _sync = new();

    public byte[] Memory { get; } = memory;

    public string Kind => "array";

    public DmaResult Read(ulong offset, Span<byte> destination)
    {
        lock (_sync)
        {
            Memory.AsSpan((int)offset, destination.Length).CopyTo(destination);
        }

        return DmaResult.Ok;
    }

    public DmaResult Write(ulong offset, ReadOnlySpan<byte> source)
    {
        lock (_sync)
        {
            source.CopyTo(Memory.AsSpan((int)offset, source.Length));
        }

        return DmaResult.Ok;
    }

    public void Dispose()
    {
    }
}
