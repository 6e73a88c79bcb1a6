namespace PcieEmu.Pci.Config;

/// <summary>
/// Type-0 header offsets (PCI Local Bus 3.0 §6.1) and the sizes of configuration space: what
/// <see cref="PciFunction.ConfigRead"/>, <see cref="PciFunction.ConfigWrite"/> and <see cref="ConfigSpace.Get16"/>
/// take as offsets.
/// </summary>
public static class PciConfigRegisters
{
    /// <summary>Vendor ID, 16-bit, RO.</summary>
    public const int VendorId = 0x00;

    /// <summary>Device ID, 16-bit, RO.</summary>
    public const int DeviceId = 0x02;

    /// <summary>Command, 16-bit, RW (<see cref="PciCommand"/>).</summary>
    public const int Command = 0x04;

    /// <summary>Status, 16-bit, RO with W1C error bits (<see cref="PciStatus"/>).</summary>
    public const int Status = 0x06;

    /// <summary>Revision ID, 8-bit, RO.</summary>
    public const int Revision = 0x08;

    /// <summary>Class code, 24-bit (prog-if, sub-class, base class from low to high byte), RO.</summary>
    public const int ClassCode = 0x09;

    /// <summary>Cache line size, 8-bit, RW (stored, no effect).</summary>
    public const int CacheLineSize = 0x0C;

    /// <summary>Latency timer, 8-bit; reads 0 (meaningless on PCI Express).</summary>
    public const int LatencyTimer = 0x0D;

    /// <summary>Header type, 8-bit; reads 0 (type-0 header, single function).</summary>
    public const int HeaderType = 0x0E;

    /// <summary>BIST, 8-bit; reads 0 (no built-in self test).</summary>
    public const int Bist = 0x0F;

    /// <summary>BAR 0; BAR n is at <see cref="BarOffset"/>(n).</summary>
    public const int Bar0 = 0x10;

    /// <summary>Subsystem vendor ID, 16-bit, RO.</summary>
    public const int SubsystemVendorId = 0x2C;

    /// <summary>Subsystem ID, 16-bit, RO.</summary>
    public const int SubsystemId = 0x2E;

    /// <summary>Expansion ROM base address, 32-bit (bit 0 enables decode).</summary>
    public const int ExpansionRom = 0x30;

    /// <summary>Offset of the first capability in the 0x40–0xFF list, 8-bit, RO (0: none).</summary>
    public const int CapabilitiesPointer = 0x34;

    /// <summary>Interrupt line, 8-bit, RW (for software; no effect).</summary>
    public const int InterruptLine = 0x3C;

    /// <summary>Interrupt pin, 8-bit, RO: 1 (INTA#).</summary>
    public const int InterruptPin = 0x3D;

    /// <summary>Min_Gnt, 8-bit; reads 0.</summary>
    public const int MinGrant = 0x3E;

    /// <summary>Max_Lat, 8-bit; reads 0.</summary>
    public const int MaxLatency = 0x3F;

    /// <summary>First byte after the type-0 header, where the capability list starts.</summary>
    public const int HeaderEnd = 0x40;

    /// <summary>Bytes of conventional configuration space.</summary>
    public const int StandardSize = 256;

    /// <summary>Bytes of PCI Express extended configuration space.</summary>
    public const int ExtendedSize = 4096;

    /// <summary>Offset of the first extended capability (PCI Express).</summary>
    public const int FirstExtendedCapability = 0x100;

    /// <summary>Offset of BAR <paramref name="index"/> (0 … 5); a 64-bit BAR's high half is the next one.</summary>
    public static int BarOffset(int index) => Bar0 + (4 * index);
}

/// <summary>Command register bits (PCI 3.0 §6.2.2). Each is consumed explicitly by <see cref="PciFunction"/>.</summary>
[Flags]
public enum PciCommand : ushort
{
    /// <summary>No bit set (the reset value): no decode, no DMA, INTx allowed.</summary>
    None = 0,

    /// <summary>Decode the function's I/O BARs.</summary>
    IoSpace = 1 << 0,

    /// <summary>Decode the function's memory BARs and ROM.</summary>
    MemorySpace = 1 << 1,

    /// <summary>Bus Master Enable: without it the function's DMA fails with <see cref="Dma.DmaResult.BusMasterDisabled"/> and MSI/MSI-X messages are held pending.</summary>
    BusMaster = 1 << 2,

    /// <summary>Parity error response (stored; no parity errors are emulated).</summary>
    ParityErrorResponse = 1 << 6,

    /// <summary>SERR# enable (stored).</summary>
    Serr = 1 << 8,

    /// <summary>INTx emulation disable: the INTx level is not signalled while set.</summary>
    InterruptDisable = 1 << 10,
}

/// <summary>Status register bits (PCI 3.0 §6.2.3).</summary>
[Flags]
public enum PciStatus : ushort
{
    /// <summary>No bit set.</summary>
    None = 0,

    /// <summary>The function's INTx level is asserted (whatever <see cref="PciCommand.InterruptDisable"/> says).</summary>
    InterruptStatus = 1 << 3,

    /// <summary>The function has a capability list (<see cref="PciConfigRegisters.CapabilitiesPointer"/>).</summary>
    CapabilitiesList = 1 << 4,

    /// <summary>Master data parity error (W1C).</summary>
    MasterDataParityError = 1 << 8,

    /// <summary>Signaled target abort (W1C).</summary>
    SignaledTargetAbort = 1 << 11,

    /// <summary>Received target abort (W1C).</summary>
    ReceivedTargetAbort = 1 << 12,

    /// <summary>Received master abort (W1C).</summary>
    ReceivedMasterAbort = 1 << 13,

    /// <summary>Signaled system error (W1C).</summary>
    SignaledSystemError = 1 << 14,

    /// <summary>Detected parity error (W1C).</summary>
    DetectedParityError = 1 << 15,

    /// <summary>The error bits software clears by writing 1.</summary>
    W1cBits = MasterDataParityError | SignaledTargetAbort | ReceivedTargetAbort | ReceivedMasterAbort
              | SignaledSystemError | DetectedParityError,
}
