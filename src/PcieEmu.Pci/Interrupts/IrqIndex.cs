namespace PcieEmu.Pci.Interrupts;

/// <summary>Interrupt types, numbered as vfio numbers its IRQ indices.</summary>
public enum IrqIndex
{
    Intx = 0,
    Msi = 1,
    Msix = 2,
    Err = 3,
    Req = 4,
}

/// <summary>Which mechanism currently carries the function's interrupts (chosen by config space).</summary>
public enum InterruptMode
{
    Intx,
    Msi,
    Msix,
}

/// <summary>What happened to one <see cref="InterruptController.Raise"/>.</summary>
public enum InterruptOutcome
{
    /// <summary>Signalled to the client.</summary>
    Delivered,

    /// <summary>Masked or not yet wired: held in the pending bits, delivered on unmask.</summary>
    Pending,

    /// <summary>The function is in INTx mode: message events do not apply (the level does).</summary>
    NotMessageMode,
}

/// <summary>Something that raises an interrupt on the client side (an eventfd in vfio-user).</summary>
public interface IInterruptSignal : IDisposable
{
    /// <summary>Signals once; false when the signal could not be sent (the peer end is gone).</summary>
    bool Signal();
}
