using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Observation;

/// <summary>
/// Watches one function's boundary: every stimulus (a unit), and what the device did inside it. A trace writer
/// when recording, a comparer when replaying (src/PcieEmu.Tracing implements both). The function calls it through
/// <see cref="FunctionObservation"/>, always with the observation's gate held, so never concurrently; an observer may
/// throw <see cref="ObservationStoppedException"/> to stop the stimulus.
/// </summary>
public interface IFunctionObserver
{
    /// <summary>True on replay: device DMA is answered by <see cref="SupplyDma"/>, not by guest memory.</summary>
    bool SuppliesDma { get; }

    /// <summary>
    /// One record, in order: a unit's record first (kind <see cref="TraceSchema.IsUnit"/>, with its time), then what the
    /// device did in it. The record's spans are valid only during the call: copy what you keep.
    /// </summary>
    void Write(in TraceRecord record);

    /// <summary>
    /// Replay only: the recorded outcome of the device's next DMA (<paramref name="attempt"/>, kind DmaRead or
    /// DmaWrite); for a read the recorded bytes are copied into <paramref name="readInto"/>.
    /// </summary>
    DmaResult SupplyDma(in TraceRecord attempt, Span<byte> readInto);
}
