namespace PcieEmu.Pci.Capabilities;

/// <summary>
/// PCI Express capability, version 2, endpoint layout (PCIe 4.0 §7.5.3). Link is fixed (x1, 2.5 GT/s, up);
/// Device Control's Initiate_FLR triggers a function-level reset (<see cref="ResetKind.FunctionLevel"/>) after the
/// write completes. Device Status records what <see cref="AerCapability"/> reports.
/// </summary>
/// <param name="functionLevelReset">Advertise FLR (Device Capabilities bit 28) and honour Initiate_FLR.</param>
/// <param name="maxPayloadSizeSupported">Device Capabilities' Max_Payload_Size Supported field, 0 … 5 for 128 … 4096 bytes (only the low 3 bits are used).</param>
public sealed class PciExpressCapability(bool functionLevelReset = true, int maxPayloadSizeSupported = 0) : PciCapability
{
    private const int Capabilities = 0x02;
    private const int DeviceCapabilities = 0x04;
    private const int DeviceControl = 0x08;
    private const int DeviceStatus = 0x0A;
    private const int LinkCapabilities = 0x0C;
    private const int LinkControl = 0x10;
    private const int LinkStatus = 0x12;
    private const int DeviceCapabilities2 = 0x24;
    private const int DeviceControl2 = 0x28;
    private const int LinkCapabilities2 = 0x2C;
    private const int LinkControl2 = 0x30;

    private const ushort InitiateFlr = 1 << 15;

    /// <inheritdoc/>
    public override byte Id => 0x10;

    /// <inheritdoc/>
    public override int Length => 0x3C;

    /// <inheritdoc/>
    public override string Name => "PCI Express";

    /// <summary>The function advertises and performs Function Level Reset.</summary>
    public bool FunctionLevelReset { get; } = functionLevelReset;

    /// <summary>Device Status error-detected bits (W1C), set by AER reporting.</summary>
    [Flags]
    internal enum ErrorDetected : ushort
    {
        Correctable = 1 << 0,
        NonFatal = 1 << 1,
        Fatal = 1 << 2,
        UnsupportedRequest = 1 << 3,
    }

    internal override void Install(Config.ConfigSpace config)
    {
        Define(Capabilities, 2, 0x0002); // version 2, type 0 = PCI Express Endpoint
        uint devCap = (uint)(maxPayloadSizeSupported & 0x7)
                      | (1u << 5)            // extended tag field supported
                      | (7u << 6) | (7u << 9) // L0s/L1 acceptable latency: no limit
                      | (1u << 15)           // role-based error reporting
                      | (FunctionLevelReset ? 1u << 28 : 0);
        Define(DeviceCapabilities, 4, devCap);
        // Correctable/non-fatal/fatal/UR reporting, relaxed ordering, max payload, ext tag, phantom, aux PM,
        // no snoop, max read request, initiate FLR (reads as 0).
        ushort devCtlWritable = (ushort)(0x7FFF | (FunctionLevelReset ? InitiateFlr : 0));
        Define(DeviceControl, 2, 0x2810, writable: devCtlWritable); // RO enable, no snoop, MRRS 512 B
        Define(DeviceStatus, 2, 0, w1c: 0x000F);
        Define(LinkCapabilities, 4, 0x0000_0011); // 2.5 GT/s, x1, no ASPM
        Define(LinkControl, 2, 0, writable: 0x00CB);
        Define(LinkStatus, 2, 0x1011); // 2.5 GT/s, x1, slot clock configuration
        Define(DeviceCapabilities2, 4, 1u << 4); // completion timeout disable supported
        Define(DeviceControl2, 2, 0, writable: 0x001F);
        Define(LinkCapabilities2, 4, 0x0000_0002); // supported speeds: 2.5 GT/s
        Define(LinkControl2, 2, 0x0001, writable: 0x000F);
    }

    internal override void OnWritten(int relativeOffset, int length, uint oldValue)
    {
        if (FunctionLevelReset && Touches(relativeOffset, length, DeviceControl, 2) && (Get16(DeviceControl) & InitiateFlr) != 0)
        {
            Set16(DeviceControl, (ushort)(Get16(DeviceControl) & ~InitiateFlr));
            Host.RequestReset(ResetKind.FunctionLevel);
        }
    }

    internal void ReportError(ErrorDetected bits) => Set16(DeviceStatus, (ushort)(Get16(DeviceStatus) | (ushort)bits));

    internal bool ReportingEnabled(ErrorDetected bit) => (Get16(DeviceControl) & (ushort)bit) != 0;
}
