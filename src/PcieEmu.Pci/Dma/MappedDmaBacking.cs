using PcieEmu.Interop;

namespace PcieEmu.Pci.Dma;

/// <summary>Guest memory reached through an mmap of the fd that came with DMA_MAP.</summary>
public sealed class MappedDmaBacking(MemoryMapping mapping) : IDmaBacking
{
    public string Kind => "mmap";

    public DmaResult Read(ulong offset, Span<byte> destination) =>
        mapping.TryRead(offset, destination) ? DmaResult.Ok : DmaResult.InvalidRange;

    public DmaResult Write(ulong offset, ReadOnlySpan<byte> source) =>
        mapping.TryWrite(offset, source) ? DmaResult.Ok : DmaResult.AccessDenied;

    public void Dispose() => mapping.Dispose();
}
