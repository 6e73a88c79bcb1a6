namespace PcieEmu.Pci.Capabilities;

/// <summary>
/// Power Management (PCI PM 1.2), v3: D0 and D3hot only, no PME. In D3hot the function decodes no BAR access, masters
/// no DMA and sends no interrupt (they wait until D0); <see cref="PciFunction.PowerStateChanged"/> tells the device.
/// </summary>
/// <param name="noSoftReset">No_Soft_Reset: D3hot → D0 keeps the function's state. When false, that transition resets
/// the function (<see cref="ResetKind.PowerStateTransition"/>).</param>
public sealed class PowerManagementCapability(bool noSoftReset = true) : PciCapability
{
    private const int Pmc = 2;
    private const int Pmcsr = 4;
    private const ushort StateMask = 0x3;
    private const ushort NoSoftResetBit = 1 << 3;

    /// <inheritdoc/>
    public override byte Id => 0x01;

    /// <inheritdoc/>
    public override int Length => 8;

    /// <inheritdoc/>
    public override string Name => "Power Management";

    /// <summary>D3hot → D0 keeps the function's state (no reset).</summary>
    public bool NoSoftReset { get; } = noSoftReset;

    /// <summary>The power state the driver put the function in (PMCSR bits 1:0); D0 after reset.</summary>
    public PowerState State => (PowerState)(Get16(Pmcsr) & StateMask);

    internal override void Install(Config.ConfigSpace config)
    {
        Define(Pmc, 2, 0x0003); // version 3; no D1/D2, no PME
        Define(Pmcsr, 2, NoSoftReset ? NoSoftResetBit : 0u, writable: StateMask);
        Define(6, 2, 0);
    }

    internal override void OnWritten(int relativeOffset, int length, uint oldValue)
    {
        if (!Touches(relativeOffset, length, Pmcsr, 2))
        {
            return;
        }

        // oldValue holds the written bytes as they were; the state field is bits 1:0 of PMCSR's low byte.
        int shift = 8 * (Pmcsr - relativeOffset);
        var previous = shift is >= 0 and < 32 ? (PowerState)((oldValue >> shift) & StateMask) : State;
        var now = State;
        if (now is PowerState.D1 or PowerState.D2)
        {
            // Unsupported states: the write completes but the state does not change (PCI PM 1.2 §5.4.1).
            Set16(Pmcsr, (ushort)((Get16(Pmcsr) & ~StateMask) | (ushort)previous));
            return;
        }

        if (previous == PowerState.D3Hot && now == PowerState.D0 && !NoSoftReset)
        {
            Host.RequestReset(ResetKind.PowerStateTransition);
        }

        if (previous != now)
        {
            Host.PowerStateChanged(previous, now);
            Host.Interrupts.ReevaluateRouting(); // interrupts held in D3hot go out once back in D0
        }
    }
}

/// <summary>A device power state (PCI PM 1.2 §5.4), numbered as in PMCSR.PowerState.</summary>
public enum PowerState
{
    /// <summary>Fully on.</summary>
    D0 = 0,

    /// <summary>Light sleep; not supported here (a write of D1 leaves the state unchanged).</summary>
    D1 = 1,

    /// <summary>Deeper sleep; not supported here (a write of D2 leaves the state unchanged).</summary>
    D2 = 2,

    /// <summary>Off but powered: only configuration space responds.</summary>
    D3Hot = 3,
}
