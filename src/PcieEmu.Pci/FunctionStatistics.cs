using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci;

/// <summary>
/// Counters of what the function saw since it was built (a reset does not clear them); read by tests, the harness and
/// the demo table. The function updates them; read them from any thread.
/// </summary>
public sealed class FunctionStatistics
{
    private long _dmaReadBytes;
    private long _dmaWriteBytes;
    private long _dmaFaults;

    /// <summary>Configuration-space reads from the client (one per request, whatever its length).</summary>
    public long ConfigReads { get; internal set; }

    /// <summary>Configuration-space writes from the client (one per request).</summary>
    public long ConfigWrites { get; internal set; }

    /// <summary>BAR reads from the client (one per request, before any split into narrower accesses).</summary>
    public long BarReads { get; internal set; }

    /// <summary>BAR writes from the client (one per request).</summary>
    public long BarWrites { get; internal set; }

    /// <summary>Function resets of any <see cref="ResetKind"/> (the client's, FLR, D3hot to D0, a lost client).</summary>
    public long Resets { get; internal set; }

    /// <summary>Bytes the device read from guest memory in successful DMA.</summary>
    public long DmaReadBytes => Interlocked.Read(ref _dmaReadBytes);

    /// <summary>Bytes the device wrote to guest memory in successful DMA.</summary>
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
