namespace PcieEmu.VfioUser.Protocol;

/// <summary>Message commands (QEMU docs/interop/vfio-user.rst §"Commands").</summary>
public enum VfioUserCommand : ushort
{
    Version = 1,
    DmaMap = 2,
    DmaUnmap = 3,
    DeviceGetInfo = 4,
    DeviceGetRegionInfo = 5,
    DeviceGetRegionIoFds = 6,
    DeviceGetIrqInfo = 7,
    DeviceSetIrqs = 8,
    RegionRead = 9,
    RegionWrite = 10,
    DmaRead = 11,
    DmaWrite = 12,
    DeviceReset = 13,
    DirtyPages = 14,
    RegionWriteMulti = 15,
    DeviceFeature = 16,
    MigDataRead = 17,
    MigDataWrite = 18,
}

/// <summary>Header flags: bits 3:0 are the message type.</summary>
[Flags]
public enum VfioUserFlags : uint
{
    Command = 0x0,
    Reply = 0x1,
    TypeMask = 0xF,
    NoReply = 0x10,
    Error = 0x20,
}

/// <summary>Region indices of a PCI device (vfio's VFIO_PCI_*_REGION_INDEX).</summary>
public static class VfioRegion
{
    public const int Bar0 = 0;
    public const int Bar5 = 5;
    public const int Rom = 6;
    public const int Config = 7;
    public const int Vga = 8;
    public const int Count = 9;
}

/// <summary>Flag and capability constants from the vfio uAPI as vfio-user reuses them.</summary>
public static class VfioConstants
{
    public const uint DeviceFlagsReset = 1 << 0;
    public const uint DeviceFlagsPci = 1 << 1;

    public const uint RegionInfoFlagRead = 1 << 0;
    public const uint RegionInfoFlagWrite = 1 << 1;
    public const uint RegionInfoFlagMmap = 1 << 2;
    public const uint RegionInfoFlagCaps = 1 << 3;
    public const ushort RegionInfoCapSparseMmap = 1;

    public const uint IrqInfoEventfd = 1 << 0;
    public const uint IrqInfoMaskable = 1 << 1;
    public const uint IrqInfoAutomasked = 1 << 2;
    public const uint IrqInfoNoResize = 1 << 3;

    public const uint IrqSetDataNone = 1 << 0;
    public const uint IrqSetDataBool = 1 << 1;
    public const uint IrqSetDataEventfd = 1 << 2;
    public const uint IrqSetDataTypeMask = IrqSetDataNone | IrqSetDataBool | IrqSetDataEventfd;
    public const uint IrqSetActionMask = 1 << 3;
    public const uint IrqSetActionUnmask = 1 << 4;
    public const uint IrqSetActionTrigger = 1 << 5;
    public const uint IrqSetActionTypeMask = IrqSetActionMask | IrqSetActionUnmask | IrqSetActionTrigger;

    public const uint DmaMapFlagRead = 1 << 0;
    public const uint DmaMapFlagWrite = 1 << 1;
    public const uint DmaUnmapFlagGetDirtyBitmap = 1 << 0;
    public const uint DmaUnmapFlagAll = 1 << 1;
}
