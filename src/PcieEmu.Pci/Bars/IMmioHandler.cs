namespace PcieEmu.Pci.Bars;

/// <summary>
/// A device's view of a trapped BAR (<see cref="PciFunctionBuilder.MemoryBar"/>, <see cref="PciFunctionBuilder.IoBar"/>);
/// <see cref="Registers.RegisterBank"/> is the usual implementation. Accesses arrive naturally aligned, inside the BAR,
/// in the widths the BAR declared; the framework splits anything else. Both methods run on the client's session
/// thread under the function lock (<see cref="PciFunction.Sync"/>): keep them O(1), and post slow work to the
/// function's <see cref="Scheduling.DeviceScheduler"/>.
/// </summary>
public interface IMmioHandler
{
    /// <summary>The value a guest read of <paramref name="size"/> bytes at <paramref name="offset"/> (from the BAR's start) returns, in the low bytes.</summary>
    ulong Read(ulong offset, AccessSize size);

    /// <summary>A guest write of the low <paramref name="size"/> bytes of <paramref name="value"/> at <paramref name="offset"/> (from the BAR's start).</summary>
    void Write(ulong offset, AccessSize size, ulong value);
}
