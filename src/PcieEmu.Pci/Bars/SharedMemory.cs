using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;

namespace PcieEmu.Pci.Bars;

/// <summary>
/// Device memory in a memfd: the client maps the fd (guest accesses then bypass the server) and the device
/// uses the same pages through its own mapping.
/// </summary>
public sealed class SharedMemory : IDisposable
{
    public SharedMemory(string name, ulong size)
    {
        Size = size;
        // Sealed: the client maps this fd too, and must not be able to shrink it under the device's own mapping.
        Fd = MemFd.Create(name, (long)size, sealSize: true);
        Mapping = MemoryMapping.Map(Fd, 0, size, writable: true);
    }

    public ulong Size { get; }

    /// <summary>The memfd; duplicated onto the socket for GET_REGION_INFO.</summary>
    public SafeFileHandle Fd { get; }

    public MemoryMapping Mapping { get; }

    public bool TryRead(ulong offset, Span<byte> destination) => Mapping.TryRead(offset, destination);

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
    public bool IsUnallocated => MemFd.IsAllHoles(Fd);

    public void Dispose()
    {
        Mapping.Dispose();
        Fd.Dispose();
    }
}
