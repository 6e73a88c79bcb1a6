using PcieEmu.Interop;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// Guest memory reached through an mmap of the fd that came with DMA_MAP. When the client could shrink the file
/// under us (no F_SEAL_SHRINK), the mapping is fault-checked: a page that vanished fails the transfer with
/// <see cref="DmaResult.TransportError"/> (the host could not complete it) instead of killing the server.
/// </summary>
public sealed class MappedDmaBacking(MemoryMapping mapping) : IPinnableDmaBacking
{
    /// <inheritdoc/>
    public string Kind => mapping.FaultChecked ? "mmap-checked" : "mmap";

    /// <inheritdoc/>
    public DmaResult Read(ulong offset, Span<byte> destination) => Result(mapping.Read(offset, destination));

    /// <inheritdoc/>
    public DmaResult Write(ulong offset, ReadOnlySpan<byte> source) => Result(mapping.Write(offset, source));

    internal static DmaResult Result(MappingCopy copy) => copy switch
    {
        MappingCopy.Ok => DmaResult.Ok,
        MappingCopy.ReadOnly => DmaResult.AccessDenied,
        MappingCopy.Fault => DmaResult.TransportError,
        _ => DmaResult.InvalidRange,
    };

    bool IPinnableDmaBacking.TryPin(ulong length, out nint address, out bool writable)
    {
        writable = mapping.Writable;
        address = 0;
        return length <= mapping.Length && mapping.TryPin(out address);
    }

    void IPinnableDmaBacking.Unpin() => mapping.Unpin();

    /// <summary>Disposes the mapping (it unmaps once no pin or copy holds it any more).</summary>
    public void Dispose() => mapping.Dispose();
}
