namespace PcieEmu.Pci.Checking;

/// <summary>
/// The rules every function checks, whatever the device: they come from the PCI specifications, not from a device's
/// own spec. Register-file rules are warnings by default (drivers poke reserved space for good reasons, e.g. probing),
/// and a policy can make them violations.
/// </summary>
public static class FunctionRules
{
    public static readonly DriverRule MmioInD3Hot = new(
        "MmioInD3Hot", "PCI Bus Power Management 1.2 §5.4.1 (D3hot: memory and I/O space not decoded)",
        "bring the function back to D0 (pci_set_power_state / runtime resume) before touching its BARs");

    public static readonly DriverRule UndecodedOffset = new(
        "UndecodedOffset", "the device's register map",
        "access only offsets the register map defines (unclaimed offsets read all-ones and drop writes)",
        RuleSeverity.Warning);

    public static readonly DriverRule ReadOnlyRegisterWritten = new(
        "ReadOnlyRegisterWritten", "the device's register map (access class RO)",
        "do not write read-only registers: the write is ignored",
        RuleSeverity.Warning);

    public static readonly DriverRule ReservedBitsWritten = new(
        "ReservedBitsWritten", "the device's register map (reserved bits: write 0)",
        "write reserved bits as 0 (preserve them as read, which is 0)",
        RuleSeverity.Warning);

    public static readonly DriverRule RegisterHalvesOutOfOrder = new(
        "RegisterHalvesOutOfOrder", "the device's register map (64-bit registers written in two halves)",
        "write the 64-bit register in one access, or its low half first and then its high half (lo_hi_writeq)");

    public static readonly DriverRule DmaOutsideD0 = new(
        "DmaOutsideD0", "PCI Bus Power Management 1.2 §5.4.1 (a function in D1–D3 masters no transactions)",
        "stop the device's DMA (streams, engines) before putting the function into a low-power state");

    public static readonly DriverRule MsixVectorUnassigned = new(
        "MsixVectorUnassigned", "PCI Local Bus 3.0 §6.8.2 (MSI-X: a vector must be set up before it is used)",
        "allocate and request (pci_alloc_irq_vectors + request_irq) every MSI-X vector the device will signal, before enabling the cause that uses it");

    public static readonly DriverRule MsixVectorMasked = new(
        "MsixVectorMasked", "PCI Local Bus 3.0 §6.8.2.9 (MSI-X Function Mask)",
        "unmask the function (MSI-X Function Mask = 0) before enabling interrupt causes; a masked vector only sets its pending bit");

    /// <summary>Every framework rule, for catalogues and policy validation.</summary>
    public static IReadOnlyList<DriverRule> All { get; } =
        [MmioInD3Hot, UndecodedOffset, ReadOnlyRegisterWritten, ReservedBitsWritten, RegisterHalvesOutOfOrder, DmaOutsideD0, MsixVectorUnassigned, MsixVectorMasked];
}
