namespace PcieEmu.Pci.Dma;

/// <summary>
/// The memory behind one mapping. Offsets are relative to the mapping's start and already bounds-checked
/// by the controller. Implementations must be safe to call from several threads.
/// </summary>
public interface IDmaBacking : IDisposable
{
    /// <summary>Short name for logs and stats: "mmap", "message", "array".</summary>
    string Kind { get; }

    /// <summary>
    /// True when a transfer completes without the client's help (mmapped or in-process memory), so it is safe
    /// even on the thread that serves the client.
    /// </summary>
    bool IsLocal => true;

    /// <summary>Copies <paramref name="destination"/>.Length bytes from <paramref name="offset"/> of this memory (range already checked).</summary>
    DmaResult Read(ulong offset, Span<byte> destination);

    /// <summary>Copies <paramref name="source"/> to <paramref name="offset"/> of this memory (range already checked); <see cref="DmaResult.AccessDenied"/> for read-only memory.</summary>
    DmaResult Write(ulong offset, ReadOnlySpan<byte> source);

    /// <summary>
    /// The mapping is being removed: refuse new transfers and fail any that wait on the client, so the
    /// unmap's drain cannot wait on a reply only the (blocked) unmapping thread could read.
    /// </summary>
    void Revoke()
    {
    }
}

/// <summary>
/// A backing whose memory the controller may load from and store to directly, bypassing the per-copy calls of
/// <see cref="IDmaBacking"/> (the hot path of a copy that crosses many small mappings). The pin lasts from the
/// mapping's DMA_MAP until its unmap has drained every transfer using it.
/// </summary>
internal interface IPinnableDmaBacking : IDmaBacking
{
    /// <summary>Pins at least <paramref name="length"/> bytes; false when this backing cannot be touched directly.</summary>
    bool TryPin(ulong length, out nint address, out bool writable);

    /// <summary>Ends a successful <see cref="TryPin"/>.</summary>
    void Unpin();
}
