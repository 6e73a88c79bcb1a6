using PcieEmu.Pci.Dma;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// A mapping that came without an fd: reached only by DMA_READ/DMA_WRITE messages to the client.
/// Offsets are turned back into bus addresses for the client.
/// </summary>
internal sealed class MessageDmaBacking(ClientRequests requests, ulong iova) : IDmaBacking
{
    private volatile bool _revoked;

    public string Kind => "message";

    public bool IsLocal => false;

    public DmaResult Read(ulong offset, Span<byte> destination) =>
        _revoked ? DmaResult.Unmapped : requests.DmaRead(this, iova + offset, destination);

    public DmaResult Write(ulong offset, ReadOnlySpan<byte> source) =>
        _revoked ? DmaResult.Unmapped : requests.DmaWrite(this, iova + offset, source);

    public void Revoke()
    {
        _revoked = true;
        requests.Cancel(this);
    }

    public void Dispose() => _revoked = true;
}

/// <summary>A mapping without an fd while message DMA is off: it exists (the client needs the map to succeed) but cannot be reached.</summary>
internal sealed class UnreachableDmaBacking : IDmaBacking
{
    public string Kind => "none";

    public DmaResult Read(ulong offset, Span<byte> destination) => DmaResult.TransportError;

    public DmaResult Write(ulong offset, ReadOnlySpan<byte> source) => DmaResult.TransportError;

    public void Dispose()
    {
    }
}
