namespace PcieEmu.Pci.Config;

/// <summary>What a function says it is: the read-only ID registers of its configuration header.</summary>
/// <param name="VendorId">PCI-SIG vendor ID (0xFFFF is invalid: it is what an absent function reads).</param>
/// <param name="DeviceId">The vendor's device ID.</param>
/// <param name="SubsystemVendorId">Vendor ID of the board or subsystem.</param>
/// <param name="SubsystemId">The subsystem vendor's ID for the board.</param>
/// <param name="ClassCode">24-bit class code: base class in bits 23:16, sub-class in 15:8, programming interface in 7:0 (e.g. 0x040100 for audio).</param>
/// <param name="Revision">Revision ID.</param>
public sealed record PciIdentity(
    ushort VendorId,
    ushort DeviceId,
    ushort SubsystemVendorId,
    ushort SubsystemId,
    uint ClassCode,
    byte Revision);
