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
        Fd = MemFd.Create(name, (long)size);
        Mapping = MemoryMapping.Map(Fd, 0, size, writable: true);
    }

    public ulong Size { get; }

    /// <summary>The memfd; duplicated onto the socket for GET_REGION_INFO.</summary>
    public SafeFileHandle Fd { get; }

    public MemoryMapping Mapping { get; }

    public bool TryRead(ulong offset, Span<byte> destination) => Mapping.TryRead(offset, destination);

    public bool TryWrite(ulong offset, ReadOnlySpan<byte> source) => Mapping.TryWrite(offset, source);

    public void Clear() => Mapping.TryAccess(0, (int)Size, 0, static (span, _) => span.Clear());

    public void Dispose()
    {
        Mapping.Dispose();
        Fd.Dispose();
    }
}
