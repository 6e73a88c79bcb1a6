namespace PcieEmu.Pci.Dma;

/// <summary>Directions a mapping permits (from the DMA_MAP flags) or an access needs.</summary>
[Flags]
public enum DmaAccess
{
    None = 0,
    Read = 1,
    Write = 2,
    ReadWrite = Read | Write,
}

/// <summary>The result of a device DMA. Never an exception: devices turn these into their own error bits.</summary>
public enum DmaResult
{
    Ok = 0,

    /// <summary>Part of the range is not covered by any mapping (ENOENT at the IOMMU).</summary>
    Unmapped,

    /// <summary>A mapping covers the range but forbids this direction (EACCES).</summary>
    AccessDenied,

    /// <summary>Command.Bus_Master_Enable is clear.</summary>
    BusMasterDisabled,

    /// <summary>The range hits one of the function's own BARs (no peer-to-peer into ourselves).</summary>
    OwnBar,

    /// <summary>The caller's segment buffer is too small for the translation.</summary>
    SegmentsTooSmall,

    /// <summary>The backing could not complete the transfer (message DMA failed, client gone).</summary>
    TransportError,

    /// <summary>Address arithmetic overflowed or the length is zero/too large.</summary>
    InvalidRange,

    /// <summary>A local-only access met memory reachable only through the client (message DMA); retry off the bus thread.</summary>
    WouldBlock,
}

/// <summary>One contiguous piece of a translated range.</summary>
public readonly record struct DmaSegment(ulong Iova, ulong Length, ulong MappingIova, string BackingKind);

/// <summary>A mapping as the table holds it, for inspection (tests, stats, logs).</summary>
public readonly record struct DmaMappingInfo(ulong Iova, ulong Size, DmaAccess Access, string BackingKind);
