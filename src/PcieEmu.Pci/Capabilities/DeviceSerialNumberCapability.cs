namespace PcieEmu.Pci.Capabilities;

/// <summary>Device Serial Number, extended capability v1 (PCIe 4.0 §7.9.3): a read-only 64-bit EUI-64.</summary>
/// <param name="serialNumber">The serial number; the low dword is at offset 4, the high dword at offset 8.</param>
public sealed class DeviceSerialNumberCapability(ulong serialNumber) : PciExtendedCapability
{
    /// <inheritdoc/>
    public override ushort Id => 0x0003;

    /// <inheritdoc/>
    public override byte Version => 1;

    /// <inheritdoc/>
    public override int Length => 12;

    /// <inheritdoc/>
    public override string Name => "Device Serial Number";

    /// <summary>The serial number the capability reports.</summary>
    public ulong SerialNumber { get; } = serialNumber;

    internal override void Install(Config.ConfigSpace config)
    {
        Define(4, 4, (uint)SerialNumber);
        Define(8, 4, (uint)(SerialNumber >> 32));
    }
}
