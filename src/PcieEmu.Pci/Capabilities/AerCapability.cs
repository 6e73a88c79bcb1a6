namespace PcieEmu.Pci.Capabilities;

/// <summary>
/// Advanced Error Reporting, extended capability v2 (PCIe 4.0 §7.8.4). Devices report errors through
/// <see cref="ReportUncorrectable"/> / <see cref="ReportCorrectable"/>; an unmasked uncorrectable error also
/// signals the function's ERR interrupt (vfio's error-detected eventfd). Every error is also mirrored into the PCI
/// Express capability's Device Status, when the function has one. Call the report methods under the function lock
/// (<see cref="PciFunction.Sync"/>), as register side effects run.
/// </summary>
public sealed class AerCapability : PciExtendedCapability
{
    private const int UncorrectableStatus = 0x04;
    private const int UncorrectableMask = 0x08;
    private const int UncorrectableSeverity = 0x0C;
    private const int CorrectableStatus = 0x10;
    private const int CorrectableMask = 0x14;
    private const int CapabilitiesControl = 0x18;
    private const int HeaderLog = 0x1C;

    /// <summary>Uncorrectable error bits this function can report (DL protocol … ACS violation).</summary>
    public const uint UncorrectableImplemented = 0x003F_F030;

    /// <summary>Correctable error bits this function can report.</summary>
    public const uint CorrectableImplemented = 0x0000_F1C1;

    /// <summary>Unsupported Request, reported in Device Status on its own bit as well (PCIe 4.0 §7.5.3.5).</summary>
    public const int UnsupportedRequestBit = 20;

    private uint[]? _sticky;

    /// <inheritdoc/>
    public override ushort Id => 0x0001;

    /// <inheritdoc/>
    public override byte Version => 2;

    /// <inheritdoc/>
    public override int Length => 0x48;

    /// <inheritdoc/>
    public override string Name => "Advanced Error Reporting";

    /// <summary>Uncorrectable Error Status as software sees it: reported bits stay set until the driver writes 1 to them (sticky across FLR).</summary>
    public uint UncorrectableStatusBits => Get32(UncorrectableStatus);

    /// <summary>Correctable Error Status as software sees it (W1C, sticky across FLR).</summary>
    public uint CorrectableStatusBits => Get32(CorrectableStatus);

    internal override void Install(Config.ConfigSpace config)
    {
        Define(UncorrectableStatus, 4, 0, w1c: UncorrectableImplemented);
        Define(UncorrectableMask, 4, 0, writable: UncorrectableImplemented);
        Define(UncorrectableSeverity, 4, 0x0046_2030, writable: UncorrectableImplemented);
        Define(CorrectableStatus, 4, 0, w1c: CorrectableImplemented);
        Define(CorrectableMask, 4, 0x0000_2000, writable: CorrectableImplemented);
        Define(CapabilitiesControl, 4, 0);
        for (int i = 0; i < 4; i++)
        {
            Define(HeaderLog + (4 * i), 4, 0);
        }
    }

    /// <summary>
    /// Records an uncorrectable error: sets its status bit and, unless software masked it, the First Error Pointer and
    /// the ERR interrupt. Whether it counts as fatal or non-fatal in Device Status follows the severity register.
    /// </summary>
    /// <param name="bit">The error's bit number in the Uncorrectable Error Status register (one of <see cref="UncorrectableImplemented"/>, e.g. <see cref="UnsupportedRequestBit"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bit"/> is not an implemented uncorrectable error.</exception>
    public void ReportUncorrectable(int bit)
    {
        uint b = 1u << bit;
        if ((b & UncorrectableImplemented) == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bit), bit, "not an implemented uncorrectable error bit");
        }

        uint status = Get32(UncorrectableStatus);
        bool masked = (Get32(UncorrectableMask) & b) != 0;
        uint control = Get32(CapabilitiesControl);
        if (!masked && (status & (1u << (int)(control & 0x1F))) == 0)
        {
            // First Error Pointer names the first unmasked error recorded; it moves on only once software has
            // cleared the status bit it points at (masked errors never update it, PCIe 4.0 §6.2.3.2.2).
            Set32(CapabilitiesControl, (control & ~0x1Fu) | (uint)bit);
        }

        Set32(UncorrectableStatus, status | b);

        // Device Status records the error whatever the AER mask says (PCIe 4.0 §7.5.3.5); the mask only
        // suppresses the report.
        bool fatal = (Get32(UncorrectableSeverity) & b) != 0;
        ErrorReported?.Invoke(fatal ? PciExpressCapability.ErrorDetected.Fatal : PciExpressCapability.ErrorDetected.NonFatal);
        if (bit == UnsupportedRequestBit)
        {
            ErrorReported?.Invoke(PciExpressCapability.ErrorDetected.UnsupportedRequest);
        }
        if (!masked)
        {
            Host.Interrupts.SignalError();
        }
    }

    /// <summary>Records a correctable error: sets its status bit and the correctable bit of Device Status; no interrupt.</summary>
    /// <param name="bit">The error's bit number in the Correctable Error Status register (one of <see cref="CorrectableImplemented"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bit"/> is not an implemented correctable error.</exception>
    public void ReportCorrectable(int bit)
    {
        uint b = 1u << bit;
        if ((b & CorrectableImplemented) == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bit), bit, "not an implemented correctable error bit");
        }

        Set32(CorrectableStatus, Get32(CorrectableStatus) | b);
        ErrorReported?.Invoke(PciExpressCapability.ErrorDetected.Correctable); // regardless of the mask (PCIe 4.0 §7.5.3.5)
    }

    /// <summary>
    /// The status registers, the First Error Pointer and the header log are sticky (RW1CS/ROS): they survive
    /// FLR and hot reset so software can find out why a function was reset (PCIe 4.0 §7.8.4).
    /// </summary>
    internal override void BeforeReset() =>
        _sticky = [Get32(UncorrectableStatus), Get32(CorrectableStatus), Get32(CapabilitiesControl) & 0x1F,
            Get32(HeaderLog), Get32(HeaderLog + 4), Get32(HeaderLog + 8), Get32(HeaderLog + 12)];

    internal override void OnReset()
    {
        if (_sticky is not { } s)
        {
            return;
        }

        Set32(UncorrectableStatus, s[0]);
        Set32(CorrectableStatus, s[1]);
        Set32(CapabilitiesControl, (Get32(CapabilitiesControl) & ~0x1Fu) | s[2]);
        for (int i = 0; i < 4; i++)
        {
            Set32(HeaderLog + (4 * i), s[3 + i]);
        }

        _sticky = null;
    }

    /// <summary>Lets the function mirror reported errors into the PCI Express Device Status register.</summary>
    internal event Action<PciExpressCapability.ErrorDetected>? ErrorReported;
}
