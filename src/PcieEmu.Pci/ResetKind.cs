namespace PcieEmu.Pci;

/// <summary>Why a function is being reset; devices may treat some kinds differently (spec §7 of each card).</summary>
public enum ResetKind
{
    /// <summary>Power-on state at construction.</summary>
    PowerOn,

    /// <summary>vfio-user DEVICE_RESET from the client.</summary>
    DeviceReset,

    /// <summary>PCI Express Function Level Reset (Device Control.Initiate_FLR).</summary>
    FunctionLevel,

    /// <summary>D3hot → D0 with No_Soft_Reset clear.</summary>
    PowerStateTransition,

    /// <summary>The client went away; its mappings and interrupt fds are already gone.</summary>
    ClientLost,

    /// <summary>The device's own reset register (engines and registers only, not config space).</summary>
    Device,
}
