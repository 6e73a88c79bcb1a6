namespace PcieEmu.VfioUser.Protocol;

/// <summary>Message commands (QEMU docs/interop/vfio-user.rst §"Commands").</summary>
public enum VfioUserCommand : ushort
{
    /// <summary>VERSION: the first message of a session; negotiates the protocol version and the capabilities (<see cref="VersionMessage"/>).</summary>
    Version = 1,

    /// <summary>DMA_MAP: the client makes a range of guest memory reachable by the device, with or without an fd (<see cref="DmaMapRequest"/>).</summary>
    DmaMap = 2,

    /// <summary>DMA_UNMAP: the client removes DMA mappings; the reply means the server no longer touches the memory (<see cref="DmaUnmapRequest"/>).</summary>
    DmaUnmap = 3,

    /// <summary>DEVICE_GET_INFO: device flags and the number of regions and IRQ indices (<see cref="DeviceInfo"/>).</summary>
    DeviceGetInfo = 4,

    /// <summary>DEVICE_GET_REGION_INFO: one region's size, access flags and mmappable areas (<see cref="RegionInfo"/>).</summary>
    DeviceGetRegionInfo = 5,

    /// <summary>DEVICE_GET_REGION_IO_FDS: ioeventfds/ioregionfds for a region; PcieEmu offers none.</summary>
    DeviceGetRegionIoFds = 6,

    /// <summary>DEVICE_GET_IRQ_INFO: one IRQ index's vector count and flags (<see cref="IrqInfo"/>).</summary>
    DeviceGetIrqInfo = 7,

    /// <summary>DEVICE_SET_IRQS: assign eventfds to vectors, mask, unmask or trigger them (<see cref="IrqSet"/>).</summary>
    DeviceSetIrqs = 8,

    /// <summary>REGION_READ: the client reads a region: config space, a BAR or the ROM (<see cref="RegionAccess"/>).</summary>
    RegionRead = 9,

    /// <summary>REGION_WRITE: the client writes a region; QEMU posts BAR writes with NO_REPLY (<see cref="RegionAccess"/>).</summary>
    RegionWrite = 10,

    /// <summary>DMA_READ: the server reads guest memory mapped without an fd; sent server→client (<see cref="DmaTransfer"/>).</summary>
    DmaRead = 11,

    /// <summary>DMA_WRITE: the server writes guest memory mapped without an fd; sent server→client (<see cref="DmaTransfer"/>).</summary>
    DmaWrite = 12,

    /// <summary>DEVICE_RESET: reset the device (function-level reset).</summary>
    DeviceReset = 13,

    /// <summary>DIRTY_PAGES: dirty page tracking for migration (deprecated by the spec); not supported.</summary>
    DirtyPages = 14,

    /// <summary>REGION_WRITE_MULTI: several posted writes of up to 8 bytes in one message (<see cref="RegionWriteMultiEntry"/>).</summary>
    RegionWriteMulti = 15,

    /// <summary>DEVICE_FEATURE: query or set a device feature (migration, DMA logging); PcieEmu implements none (ENOTSUP).</summary>
    DeviceFeature = 16,

    /// <summary>MIG_DATA_READ: read migration state; not supported.</summary>
    MigDataRead = 17,

    /// <summary>MIG_DATA_WRITE: write migration state; not supported.</summary>
    MigDataWrite = 18,
}

/// <summary>Header flags: bits 3:0 are the message type.</summary>
[Flags]
public enum VfioUserFlags : uint
{
    /// <summary>Type 0: a request.</summary>
    Command = 0x0,

    /// <summary>Type 1: a reply to a request with the same id and command.</summary>
    Reply = 0x1,

    /// <summary>Bits 3:0, the message type.</summary>
    TypeMask = 0xF,

    /// <summary>The sender wants no reply (requests only).</summary>
    NoReply = 0x10,

    /// <summary>The reply reports a failure; the header's error field holds the errno.</summary>
    Error = 0x20,
}

/// <summary>Region indices of a PCI device (vfio's VFIO_PCI_*_REGION_INDEX).</summary>
public static class VfioRegion
{
    /// <summary>BAR 0; BARs 1 to 5 follow as indices 1 to 5.</summary>
    public const int Bar0 = 0;

    /// <summary>BAR 5, the last BAR.</summary>
    public const int Bar5 = 5;

    /// <summary>The expansion ROM.</summary>
    public const int Rom = 6;

    /// <summary>PCI configuration space (4 KiB when extended, as for PCI Express; otherwise 256 bytes).</summary>
    public const int Config = 7;

    /// <summary>Legacy VGA ranges; a PcieEmu device has none (size 0).</summary>
    public const int Vga = 8;

    /// <summary>Region indices of a PCI device: the length of the index range, and DEVICE_GET_INFO's num_regions.</summary>
    public const int Count = 9;
}

/// <summary>Flag and capability constants from the vfio uAPI as vfio-user reuses them.</summary>
public static class VfioConstants
{
    /// <summary>VFIO_DEVICE_FLAGS_RESET: the device supports DEVICE_RESET.</summary>
    public const uint DeviceFlagsReset = 1 << 0;

    /// <summary>VFIO_DEVICE_FLAGS_PCI: a PCI device (regions and IRQs use the PCI indices).</summary>
    public const uint DeviceFlagsPci = 1 << 1;

    /// <summary>VFIO_REGION_INFO_FLAG_READ: the region can be read.</summary>
    public const uint RegionInfoFlagRead = 1 << 0;

    /// <summary>VFIO_REGION_INFO_FLAG_WRITE: the region can be written.</summary>
    public const uint RegionInfoFlagWrite = 1 << 1;

    /// <summary>VFIO_REGION_INFO_FLAG_MMAP: (parts of) the region can be mmapped from the fd the reply carries.</summary>
    public const uint RegionInfoFlagMmap = 1 << 2;

    /// <summary>VFIO_REGION_INFO_FLAG_CAPS: a capability chain follows, starting at cap_offset.</summary>
    public const uint RegionInfoFlagCaps = 1 << 3;

    /// <summary>VFIO_REGION_INFO_CAP_SPARSE_MMAP: the id of the capability listing mmappable areas.</summary>
    public const ushort RegionInfoCapSparseMmap = 1;

    /// <summary>VFIO_IRQ_INFO_EVENTFD: vectors of the index can be signalled through eventfds.</summary>
    public const uint IrqInfoEventfd = 1 << 0;

    /// <summary>VFIO_IRQ_INFO_MASKABLE: vectors can be masked and unmasked.</summary>
    public const uint IrqInfoMaskable = 1 << 1;

    /// <summary>VFIO_IRQ_INFO_AUTOMASKED: the vector masks itself when it fires (INTx); the client unmasks it.</summary>
    public const uint IrqInfoAutomasked = 1 << 2;

    /// <summary>VFIO_IRQ_INFO_NORESIZE: the set of enabled vectors cannot change without disabling all first.</summary>
    public const uint IrqInfoNoResize = 1 << 3;

    /// <summary>VFIO_IRQ_SET_DATA_NONE: no data follows the head.</summary>
    public const uint IrqSetDataNone = 1 << 0;

    /// <summary>VFIO_IRQ_SET_DATA_BOOL: one byte per vector follows; the action applies to the vectors whose byte is non-zero.</summary>
    public const uint IrqSetDataBool = 1 << 1;

    /// <summary>VFIO_IRQ_SET_DATA_EVENTFD: one fd per vector comes with the message (none: de-assign).</summary>
    public const uint IrqSetDataEventfd = 1 << 2;

    /// <summary>Every IrqSetData* bit.</summary>
    public const uint IrqSetDataTypeMask = IrqSetDataNone | IrqSetDataBool | IrqSetDataEventfd;

    /// <summary>VFIO_IRQ_SET_ACTION_MASK: mask the vectors.</summary>
    public const uint IrqSetActionMask = 1 << 3;

    /// <summary>VFIO_IRQ_SET_ACTION_UNMASK: unmask the vectors (with DATA_EVENTFD on INTx: the resample fd).</summary>
    public const uint IrqSetActionUnmask = 1 << 4;

    /// <summary>VFIO_IRQ_SET_ACTION_TRIGGER: assign the eventfds the vectors signal, or fire them (NONE/BOOL).</summary>
    public const uint IrqSetActionTrigger = 1 << 5;

    /// <summary>Every IrqSetAction* bit.</summary>
    public const uint IrqSetActionTypeMask = IrqSetActionMask | IrqSetActionUnmask | IrqSetActionTrigger;

    /// <summary>VFIO_USER_F_DMA_REGION_READ: the device may read the mapped memory.</summary>
    public const uint DmaMapFlagRead = 1 << 0;

    /// <summary>VFIO_USER_F_DMA_REGION_WRITE: the device may write the mapped memory.</summary>
    public const uint DmaMapFlagWrite = 1 << 1;

    /// <summary>VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP: return a dirty-page bitmap; refused by PcieEmu (ENOTSUP).</summary>
    public const uint DmaUnmapFlagGetDirtyBitmap = 1 << 0;

    /// <summary>VFIO_DMA_UNMAP_FLAG_ALL: remove every mapping (address and size must be 0).</summary>
    public const uint DmaUnmapFlagAll = 1 << 1;
}
