namespace PcieEmu.Pci.Dma;

/// <summary>Directions a mapping permits (from the DMA_MAP flags) or an access needs.</summary>
[Flags]
public enum DmaAccess
{
    /// <summary>No direction (refused by a map).</summary>
    None = 0,

    /// <summary>The device may read guest memory (DMA_MAP's READ flag).</summary>
    Read = 1,

    /// <summary>The device may write guest memory (DMA_MAP's WRITE flag).</summary>
    Write = 2,

    /// <summary>Both directions.</summary>
    ReadWrite = Read | Write,
}

/// <summary>
/// The result of a device DMA. Never an exception: devices turn these into their own error bits. The numbers are
/// recorded in traces: never renumber (5 was SegmentsTooSmall).
/// </summary>
public enum DmaResult
{
    /// <summary>Every byte moved (or, for a check, would).</summary>
    Ok = 0,

    /// <summary>Part of the range is not covered by any mapping (ENOENT at the IOMMU).</summary>
    Unmapped = 1,

    /// <summary>A mapping covers the range but forbids this direction (EACCES).</summary>
    AccessDenied = 2,

    /// <summary>Command.Bus_Master_Enable is clear.</summary>
    BusMasterDisabled = 3,

    /// <summary>The range hits one of the function's own BARs (no peer-to-peer into ourselves).</summary>
    OwnBar = 4,

    /// <summary>The backing could not complete the transfer (message DMA failed, client gone).</summary>
    TransportError = 6,

    /// <summary>Address arithmetic overflowed or the length is zero/too large.</summary>
    InvalidRange = 7,

    /// <summary>The function is not in D0: a function in D1–D3 masters no transactions (PCI PM 1.2 §5.4.1).</summary>
    NotInD0 = 9,

    /// <summary>A local-only access met memory reachable only through the client (message DMA); retry off the bus thread.</summary>
    WouldBlock = 8,
}

/// <summary>A mapping as the table holds it, for inspection (tests, stats, logs).</summary>
public readonly record struct DmaMappingInfo(ulong Iova, ulong Size, DmaAccess Access, string BackingKind);
