namespace PcieEmu.Pci.Bars;

/// <summary>
/// A device's view of a trapped BAR. Accesses arrive naturally aligned in the widths the BAR declared;
/// the framework splits anything else. Called under the function lock.
/// </summary>
public interface IMmioHandler
{
    ulong Read(ulong offset, AccessSize size);

    void Write(ulong offset, AccessSize size, ulong value);
}
