namespace PcieEmu.Pci.Capabilities;

/// <summary>Device Serial Number, extended capability v1 (PCIe 4.0 §7.9.3): a read-only 64-bit EUI-64.</summary>
public sealed class DeviceSerialNumberCapability(ulong serialNumber) : PciExtendedCapability
{
    public override ushort Id => 0x0003;

    public override byte Version => 1;

    public override int Length => 12;

    public override string Name => "Device Serial Number";

    public ulong SerialNumber { get; } = serialNumber;

    protected internal override void Install(Config.ConfigSpace config)
    {
        Define(4, 4, (uint)SerialNumber);
        Define(8, 4, (uint)(SerialNumber >> 32));
    }
}
