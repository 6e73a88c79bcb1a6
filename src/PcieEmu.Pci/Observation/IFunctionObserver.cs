using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Observation;

/// <summary>
/// Watches one function's boundary: every stimulus (a unit), and what the device did inside it. A trace writer
/// when recording, a comparer when replaying. The function calls it through <see cref="FunctionObservation"/>,
/// always with the observation's gate held, so never concurrently.
/// </summary>
public interface IFunctionObserver
{
    /// <summary>True on replay: device DMA is answered by <see cref="SupplyDma"/>, not by guest memory.</summary>
    bool SuppliesDma { get; }

    void Write(in TraceRecord record);

    /// <summary>
    /// Replay only: the recorded outcome of the device's next DMA (<paramref name="attempt"/>, kind DmaRead or
    /// DmaWrite); for a read the recorded bytes are copied into <paramref name="readInto"/>.
    /// </summary>
    DmaResult SupplyDma(in TraceRecord attempt, Span<byte> readInto);
}
