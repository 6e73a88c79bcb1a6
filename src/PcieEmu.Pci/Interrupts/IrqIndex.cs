namespace PcieEmu.Pci.Interrupts;

/// <summary>Interrupt types, numbered as vfio numbers its IRQ indices.</summary>
public enum IrqIndex
{
    /// <summary>The legacy INTx pin (one vector: the level).</summary>
    Intx = 0,

    /// <summary>MSI vectors.</summary>
    Msi = 1,

    /// <summary>MSI-X vectors.</summary>
    Msix = 2,

    /// <summary>The error signal (one vector): an uncorrectable error was detected (<see cref="Capabilities.AerCapability"/>).</summary>
    Err = 3,

    /// <summary>The request signal (one vector): the device asks the client to release it.</summary>
    Req = 4,
}

/// <summary>Which mechanism currently carries the function's interrupts (chosen by config space).</summary>
public enum InterruptMode
{
    /// <summary>Neither MSI nor MSI-X is enabled: the INTx level carries interrupts; <see cref="InterruptController.Raise"/> does not apply.</summary>
    Intx,

    /// <summary>MSI is enabled (and MSI-X is not).</summary>
    Msi,

    /// <summary>MSI-X is enabled.</summary>
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
