using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Tracing;

/// <summary>
/// Where a traced function's records go: a file writer when recording, a comparer when replaying.
/// Called only by <see cref="FunctionTrace"/>, always with its gate held, so never concurrently.
/// </summary>
public interface ITraceSink
{
    /// <summary>True on replay: device DMA is answered by <see cref="ReplayDma"/>, not by guest memory.</summary>
    bool Replaying { get; }

    void Write(in TraceRecord record);

    /// <summary>
    /// Replay only: the recorded outcome of the device's next DMA (<paramref name="attempt"/>, kind DmaRead or
    /// DmaWrite); for a read the recorded bytes are copied into <paramref name="readInto"/>.
    /// </summary>
    DmaResult ReplayDma(in TraceRecord attempt, Span<byte> readInto);
}
