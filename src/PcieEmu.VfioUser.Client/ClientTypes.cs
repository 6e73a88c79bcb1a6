using Microsoft.Win32.SafeHandles;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>DMA_MAP access flags (vfio's VFIO_DMA_MAP_FLAG_READ/WRITE).</summary>
[Flags]
public enum DmaMapFlags : uint
{
    /// <summary>The device may neither read nor write the range (a server may refuse such a map).</summary>
    None = 0,

    /// <summary>The device may read the range (device-bound DMA, such as playback buffers).</summary>
    Read = VfioConstants.DmaMapFlagRead,

    /// <summary>The device may write the range (host-bound DMA, such as capture buffers).</summary>
    Write = VfioConstants.DmaMapFlagWrite,

    /// <summary>The device may read and write the range, as QEMU maps guest RAM.</summary>
    ReadWrite = Read | Write,
}

/// <summary>SET_IRQS actions (exactly one per message).</summary>
public enum IrqAction : uint
{
    /// <summary>Mask the vectors: the device keeps them pending instead of signalling.</summary>
    Mask = VfioConstants.IrqSetActionMask,

    /// <summary>Unmask the vectors (with an eventfd on INTx: set the resample fd KVM signals at EOI).</summary>
    Unmask = VfioConstants.IrqSetActionUnmask,

    /// <summary>Assign the eventfds vectors signal (DATA_EVENTFD), or fire vectors from the client side (DATA_NONE/BOOL).</summary>
    Trigger = VfioConstants.IrqSetActionTrigger,
}

/// <summary>The server's answer to VERSION.</summary>
/// <param name="Major">The protocol major version the server speaks (the one proposed: anything else is refused).</param>
/// <param name="Minor">The minor version agreed on, at most the one proposed.</param>
/// <param name="Json">The server's capabilities JSON without its NUL, or null when the reply carried none.</param>
/// <param name="Capabilities">The parsed capabilities, spec defaults for the keys the server left out.</param>
/// <param name="ReplySize">Bytes of the reply message, header included (never more than the request's).</param>
public sealed record VersionReply(ushort Major, ushort Minor, string? Json, VersionCapabilities Capabilities, int ReplySize);

/// <summary>One area of a region the client may mmap, from the region info's sparse mmap capability.</summary>
/// <param name="Offset">Bytes from the start of the region; the area is at <see cref="RegionInfo.Offset"/> + Offset in the region fd.</param>
/// <param name="Size">Bytes of the area.</param>
public readonly record struct SparseArea(ulong Offset, ulong Size);

/// <summary>
/// The outcome of DEVICE_GET_REGION_INFO after the argsz retry: the final struct, the sparse mmap areas from
/// the capability chain, and the region fd (owned by the caller; null unless the region is mmappable).
/// </summary>
public sealed class RegionDetails : IDisposable
{
    internal RegionDetails(RegionInfo info, IReadOnlyList<SparseArea> sparseAreas, SafeFileHandle? fd, int requests, int replySize)
    {
        Info = info;
        SparseAreas = sparseAreas;
        Fd = fd;
        Requests = requests;
        ReplySize = replySize;
    }

    /// <summary>The final reply struct, as the server sent it.</summary>
    public RegionInfo Info { get; }

    /// <summary>The region index (<see cref="VfioRegion"/>).</summary>
    public int Index => (int)Info.Index;

    /// <summary>Region size in bytes; 0 when the device does not have this region.</summary>
    public ulong Size => Info.Size;

    /// <summary>The RegionInfoFlag* bits of <see cref="VfioConstants"/>.</summary>
    public uint Flags => Info.Flags;

    /// <summary>REGION_READ is allowed.</summary>
    public bool Readable => (Info.Flags & VfioConstants.RegionInfoFlagRead) != 0;

    /// <summary>REGION_WRITE is allowed.</summary>
    public bool Writable => (Info.Flags & VfioConstants.RegionInfoFlagWrite) != 0;

    /// <summary>Parts of the region (<see cref="SparseAreas"/>) may be mmapped from <see cref="Fd"/>.</summary>
    public bool Mmappable => (Info.Flags & VfioConstants.RegionInfoFlagMmap) != 0;

    /// <summary>The mmappable areas, in the order the server listed them; empty without a sparse mmap capability.</summary>
    public IReadOnlyList<SparseArea> SparseAreas { get; }

    /// <summary>The region's fd (MMAP regions); the caller owns it.</summary>
    public SafeFileHandle? Fd { get; private set; }

    /// <summary>GET_REGION_INFO messages it took (2 when the first argsz was too small for the capabilities).</summary>
    public int Requests { get; }

    /// <summary>Size of the final reply message (header included).</summary>
    public int ReplySize { get; }

    /// <summary>Transfers the fd to the caller (this object no longer closes it).</summary>
    public SafeFileHandle? TakeFd()
    {
        var fd = Fd;
        Fd = null;
        return fd;
    }

    /// <summary>Closes <see cref="Fd"/> unless it was taken with <see cref="TakeFd"/>.</summary>
    public void Dispose()
    {
        Fd?.Dispose();
        Fd = null;
    }
}
