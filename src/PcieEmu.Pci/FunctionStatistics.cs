using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci;

/// <summary>Counters of what the function saw; read by tests, the harness and the demo table.</summary>
public sealed class FunctionStatistics
{
    private long _dmaReadBytes;
    private long _dmaWriteBytes;
    private long _dmaFaults;

    public long ConfigReads { get; internal set; }

    public long ConfigWrites { get; internal set; }

    public long BarReads { get; internal set; }

    public long BarWrites { get; internal set; }

    public long Resets { get; internal set; }

    public long DmaReadBytes => Interlocked.Read(ref _dmaReadBytes);

    public long DmaWriteBytes => Interlocked.Read(ref _dmaWriteBytes);

    /// <summary>DMA attempts refused or failed (any result but Ok).</summary>
    public long DmaFaults => Interlocked.Read(ref _dmaFaults);

    internal void NoteDma(DmaResult result, int bytes, bool isWrite)
    {
        if (result != DmaResult.Ok)
        {
            Interlocked.Increment(ref _dmaFaults);
        }
        else if (isWrite)
        {
            Interlocked.Add(ref _dmaWriteBytes, bytes);
        }
        else
        {
            Interlocked.Add(ref _dmaReadBytes, bytes);
        }
    }
}
