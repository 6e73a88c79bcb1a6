namespace PcieEmu.Pci.Config;

/// <summary>What a function says it is: IDs, class code (24 bits: base, sub, prog-if) and revision.</summary>
public sealed record PciIdentity(
    ushort VendorId,
    ushort DeviceId,
    ushort SubsystemVendorId,
    ushort SubsystemId,
    uint ClassCode,
    byte Revision);
