using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;

namespace PcieEmu.Pci.Bars;

/// <summary>
/// Device memory in a memfd, behind a shared-memory BAR (<see cref="PciFunctionBuilder.SharedMemoryBar"/>): the client
/// maps the fd (guest accesses then bypass the server) and the device uses the same pages through its own mapping.
/// The guest may change the bytes at any time, from any vCPU, without the server seeing it: treat what you read as
/// untrusted and unsynchronised. Owned by its function, which clears it at reset and disposes it.
/// </summary>
public sealed class SharedMemory : IDisposable
{
    internal SharedMemory(string name, ulong size)
    {
        Size = size;
        // Sealed: the client maps this fd too, and must not be able to shrink it under the device's own mapping.
        Fd = MemFd.Create(name, (long)size, sealSize: true);
        Mapping = MemoryMapping.Map(Fd, 0, size, writable: true);
    }

    /// <summary>Bytes of memory: the BAR's size.</summary>
    public ulong Size { get; }

    /// <summary>The memfd; duplicated onto the socket for GET_REGION_INFO.</summary>
    public SafeFileHandle Fd { get; }

    internal MemoryMapping Mapping { get; }

    /// <summary>Copies <paramref name="destination"/>.Length bytes from <paramref name="offset"/>; false (nothing copied) when the range does not lie inside the memory.</summary>
    /// <exception cref="ObjectDisposedException">The memory was disposed.</exception>
    public bool TryRead(ulong offset, Span<byte> destination) => Mapping.TryRead(offset, destination);

    /// <summary>Copies <paramref name="source"/> to <paramref name="offset"/>; false (nothing copied) when the range does not lie inside the memory.</summary>
    /// <exception cref="ObjectDisposedException">The memory was disposed.</exception>
    public bool TryWrite(ulong offset, ReadOnlySpan<byte> source) => Mapping.TryWrite(offset, source);

    /// <summary>
    /// Zeroes the memory by handing its pages back to the kernel (a hole reads as zeros in every mapping): a reset
    /// of a 1 GiB BAR then costs a syscall, not a write of every page, and gives the memory back.
    /// </summary>
    public void Clear()
    {
        if (!MemFd.TryDiscard(Fd, 0, (long)Size))
        {
            Mapping.TryAccess(0, (int)Size, 0, static (span, _) => span.Clear());
        }
    }

    /// <summary>True when no page of the memory is allocated (fresh, or just cleared).</summary>
    internal bool IsUnallocated => MemFd.IsAllHoles(Fd);

    /// <summary>Unmaps the device's view and closes the memfd; a client's own mapping stays valid until it unmaps it.</summary>
    public void Dispose()
    {
        Mapping.Dispose();
        Fd.Dispose();
    }
}
