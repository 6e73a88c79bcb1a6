namespace PcieEmu.Pci.Config;

/// <summary>Type-0 header offsets (PCI Local Bus 3.0 §6.1).</summary>
public static class PciConfigRegisters
{
    public const int VendorId = 0x00;
    public const int DeviceId = 0x02;
    public const int Command = 0x04;
    public const int Status = 0x06;
    public const int Revision = 0x08;
    public const int ClassCode = 0x09;
    public const int CacheLineSize = 0x0C;
    public const int LatencyTimer = 0x0D;
    public const int HeaderType = 0x0E;
    public const int Bist = 0x0F;
    public const int Bar0 = 0x10;
    public const int SubsystemVendorId = 0x2C;
    public const int SubsystemId = 0x2E;
    public const int ExpansionRom = 0x30;
    public const int CapabilitiesPointer = 0x34;
    public const int InterruptLine = 0x3C;
    public const int InterruptPin = 0x3D;
    public const int MinGrant = 0x3E;
    public const int MaxLatency = 0x3F;

    public const int HeaderEnd = 0x40;
    public const int StandardSize = 256;
    public const int ExtendedSize = 4096;
    public const int FirstExtendedCapability = 0x100;

    public static int BarOffset(int index) => Bar0 + (4 * index);
}

/// <summary>Command register bits (PCI 3.0 §6.2.2). Each is consumed explicitly by <see cref="PciFunction"/>.</summary>
[Flags]
public enum PciCommand : ushort
{
    None = 0,
    IoSpace = 1 << 0,
    MemorySpace = 1 << 1,
    BusMaster = 1 << 2,
    ParityErrorResponse = 1 << 6,
    Serr = 1 << 8,
    InterruptDisable = 1 << 10,
}

/// <summary>Status register bits (PCI 3.0 §6.2.3).</summary>
[Flags]
public enum PciStatus : ushort
{
    None = 0,
    InterruptStatus = 1 << 3,
    CapabilitiesList = 1 << 4,
    MasterDataParityError = 1 << 8,
    SignaledTargetAbort = 1 << 11,
    ReceivedTargetAbort = 1 << 12,
    ReceivedMasterAbort = 1 << 13,
    SignaledSystemError = 1 << 14,
    DetectedParityError = 1 << 15,

    /// <summary>The error bits software clears by writing 1.</summary>
    W1cBits = MasterDataParityError | SignaledTargetAbort | ReceivedTargetAbort | ReceivedMasterAbort
              | SignaledSystemError | DetectedParityError,
}
