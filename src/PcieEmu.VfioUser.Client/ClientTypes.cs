using Microsoft.Win32.SafeHandles;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>DMA_MAP access flags (vfio's VFIO_DMA_MAP_FLAG_READ/WRITE).</summary>
[Flags]
public enum DmaMapFlags : uint
{
    None = 0,
    Read = VfioConstants.DmaMapFlagRead,
    Write = VfioConstants.DmaMapFlagWrite,
    ReadWrite = Read | Write,
}

/// <summary>SET_IRQS actions (exactly one per message).</summary>
public enum IrqAction : uint
{
    Mask = VfioConstants.IrqSetActionMask,
    Unmask = VfioConstants.IrqSetActionUnmask,
    Trigger = VfioConstants.IrqSetActionTrigger,
}

/// <summary>The server's answer to VERSION.</summary>
public sealed record VersionReply(ushort Major, ushort Minor, string? Json, VersionCapabilities Capabilities, int ReplySize);

/// <summary>One sparse-mmap area of a region (offset relative to the region's mmap offset).</summary>
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

    public RegionInfo Info { get; }

    public int Index => (int)Info.Index;

    public ulong Size => Info.Size;

    public uint Flags => Info.Flags;

    public bool Readable => (Info.Flags & VfioConstants.RegionInfoFlagRead) != 0;

    public bool Writable => (Info.Flags & VfioConstants.RegionInfoFlagWrite) != 0;

    public bool Mmappable => (Info.Flags & VfioConstants.RegionInfoFlagMmap) != 0;

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

    public void Dispose()
    {
        Fd?.Dispose();
        Fd = null;
    }
}
