namespace PcieEmu.Pci.Checking;

/// <summary>
/// The rules every function checks, whatever the device: they come from the PCI specifications, not from a device's
/// own spec. Register-file rules are warnings by default (drivers poke reserved space for good reasons, e.g. probing),
/// and a policy can make them violations.
/// </summary>
public static class FunctionRules
{
    /// <summary>A BAR was accessed while the function was in D3hot (the access was dropped; reads return all-ones).</summary>
    public static readonly DriverRule MmioInD3Hot = new(
        "MmioInD3Hot", "PCI Bus Power Management 1.2 §5.4.1 (D3hot: memory and I/O space not decoded)",
        "bring the function back to D0 (pci_set_power_state / runtime resume) before touching its BARs");

    /// <summary>A register bank saw an access where its map has no register (warning).</summary>
    public static readonly DriverRule UndecodedOffset = new(
        "UndecodedOffset", "the device's register map",
        "access only offsets the register map defines (unclaimed offsets read all-ones and drop writes)",
        RuleSeverity.Warning);

    /// <summary>A write to a register with no writable or W1C bit and no write side effect (warning).</summary>
    public static readonly DriverRule ReadOnlyRegisterWritten = new(
        "ReadOnlyRegisterWritten", "the device's register map (access class RO)",
        "do not write read-only registers: the write is ignored",
        RuleSeverity.Warning);

    /// <summary>A write set bits outside a register's <see cref="Registers.RegisterDefinition.ImplementedMask"/> (warning).</summary>
    public static readonly DriverRule ReservedBitsWritten = new(
        "ReservedBitsWritten", "the device's register map (reserved bits: write 0)",
        "write reserved bits as 0 (preserve them as read, which is 0)",
        RuleSeverity.Warning);

    /// <summary>A 64-bit register's high half was written before its low half, in a bank with <see cref="Registers.RegisterBank.LowHalfFirst"/>.</summary>
    public static readonly DriverRule RegisterHalvesOutOfOrder = new(
        "RegisterHalvesOutOfOrder", "the device's register map (64-bit registers written in two halves)",
        "write the 64-bit register in one access, or its low half first and then its high half (lo_hi_writeq)");

    /// <summary>The device tried DMA while the function was not in D0 (it failed with <see cref="Dma.DmaResult.NotInD0"/>).</summary>
    public static readonly DriverRule DmaOutsideD0 = new(
        "DmaOutsideD0", "PCI Bus Power Management 1.2 §5.4.1 (a function in D1–D3 masters no transactions)",
        "stop the device's DMA (streams, engines) before putting the function into a low-power state");

    /// <summary>The device raised an MSI-X vector the driver had not set up (no eventfd from the client): the interrupt stays pending.</summary>
    public static readonly DriverRule MsixVectorUnassigned = new(
        "MsixVectorUnassigned", "PCI Local Bus 3.0 §6.8.2 (MSI-X: a vector must be set up before it is used)",
        "allocate and request (pci_alloc_irq_vectors + request_irq) every MSI-X vector the device will signal, before enabling the cause that uses it");

    /// <summary>The device raised an MSI-X vector while the function was masked: the interrupt only set its pending bit.</summary>
    public static readonly DriverRule MsixVectorMasked = new(
        "MsixVectorMasked", "PCI Local Bus 3.0 §6.8.2.9 (MSI-X Function Mask)",
        "unmask the function (MSI-X Function Mask = 0) before enabling interrupt causes; a masked vector only sets its pending bit");

    /// <summary>Every framework rule, for catalogues and policy validation.</summary>
    public static IReadOnlyList<DriverRule> All { get; } =
        [MmioInD3Hot, UndecodedOffset, ReadOnlyRegisterWritten, ReservedBitsWritten, RegisterHalvesOutOfOrder, DmaOutsideD0, MsixVectorUnassigned, MsixVectorMasked];
}
