using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Tracing.Replay;

/// <summary>An interrupt eventfd stand-in: on replay the signal itself is compared, through the trace.</summary>
internal sealed class ReplaySignal : IInterruptSignal
{
    public bool Signal() => true;

    public void Dispose()
    {
    }
}

/// <summary>
/// A mapping's memory on replay. Never read or written: a traced function answers device DMA from the trace
/// before it reaches a backing. It exists so the IOVA table (which validation consults) is the recorded one.
/// </summary>
internal sealed class ReplayBacking(bool isLocal) : IDmaBacking
{
    public string Kind => isLocal ? "replay-shared" : "replay-message";

    public bool IsLocal => isLocal;

    public DmaResult Read(ulong offset, Span<byte> destination) => DmaResult.TransportError;

    public DmaResult Write(ulong offset, ReadOnlySpan<byte> source) => DmaResult.TransportError;

    public void Dispose()
    {
    }
}
