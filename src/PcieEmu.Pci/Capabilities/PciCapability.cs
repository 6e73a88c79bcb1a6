using PcieEmu.Pci.Config;

namespace PcieEmu.Pci.Capabilities;

/// <summary>
/// A capability structure in configuration space. Add one to a function with
/// <see cref="PciFunctionBuilder.Capability(PciCapability)"/>: the builder places it (<see cref="Offset"/>) and links
/// it, the capability declares its registers relative to its own offset and reacts to guest writes inside its range.
/// The set is closed: the framework implements the semantics of each kind (power states, interrupt routing, FLR,
/// error reporting). Once built, read a capability's state under the function lock (<see cref="PciFunction.Sync"/>).
/// </summary>
public abstract class PciCapabilityBase
{
    private ICapabilityHost? _host;

    private protected PciCapabilityBase()
    {
    }

    /// <summary>Absolute offset in config space, assigned when the function is built (0 before).</summary>
    public int Offset { get; internal set; }

    /// <summary>Bytes the structure occupies, header included.</summary>
    public abstract int Length { get; }

    /// <summary>The capability's name as the specification gives it, for logs ("MSI-X").</summary>
    public abstract string Name { get; }

    private protected ICapabilityHost Host => _host ?? throw new InvalidOperationException($"{Name} is not attached to a function");

    private protected ConfigSpace Config => Host.Config;

    internal void Attach(ICapabilityHost host) => _host = host;

    /// <summary>Declares registers (values and masks) after the header. Called once at build time.</summary>
    internal abstract void Install(ConfigSpace config);

    /// <summary>
    /// A guest write landed inside this capability. <paramref name="relativeOffset"/> is from <see cref="Offset"/>;
    /// <paramref name="oldValue"/> holds the bytes before the write.
    /// </summary>
    internal virtual void OnWritten(int relativeOffset, int length, uint oldValue)
    {
    }

    /// <summary>Called before config space is restored to its reset image (to keep sticky bits).</summary>
    internal virtual void BeforeReset()
    {
    }

    /// <summary>Called after config space was restored to its reset image.</summary>
    internal virtual void OnReset()
    {
    }

    private protected void Define(int relativeOffset, int length, uint value, uint writable = 0, uint w1c = 0) =>
        Config.Define(Offset + relativeOffset, length, value, writable, w1c);

    private protected ushort Get16(int relativeOffset) => Config.Get16(Offset + relativeOffset);

    private protected uint Get32(int relativeOffset) => Config.Get32(Offset + relativeOffset);

    private protected void Set16(int relativeOffset, ushort value) => Config.Set16(Offset + relativeOffset, value);

    private protected void Set32(int relativeOffset, uint value) => Config.Set32(Offset + relativeOffset, value);

    private protected static bool Touches(int relativeOffset, int length, int register, int registerLength) =>
        relativeOffset < register + registerLength && register < relativeOffset + length;
}

/// <summary>A capability in the 0x40–0xFF list: 1-byte ID, 1-byte next pointer.</summary>
public abstract class PciCapability : PciCapabilityBase
{
    private protected PciCapability()
    {
    }

    /// <summary>The capability ID in its header (PCI Code and ID Assignment: 0x01 PM, 0x05 MSI, 0x10 PCI Express, 0x11 MSI-X).</summary>
    public abstract byte Id { get; }
}

/// <summary>A PCI Express extended capability at 0x100+: 16-bit ID, 4-bit version, 12-bit next offset.</summary>
public abstract class PciExtendedCapability : PciCapabilityBase
{
    private protected PciExtendedCapability()
    {
    }

    /// <summary>The extended capability ID in its header (0x0001 AER, 0x0003 Device Serial Number).</summary>
    public abstract ushort Id { get; }

    /// <summary>The capability version in its header (bits 19:16).</summary>
    public abstract byte Version { get; }
}

/// <summary>What a capability may ask of its function.</summary>
internal interface ICapabilityHost
{
    ConfigSpace Config { get; }

    Interrupts.InterruptController Interrupts { get; }

    /// <summary>Schedules a reset to run once the current config access has finished.</summary>
    void RequestReset(ResetKind kind);

    /// <summary>The driver moved the function from <paramref name="previous"/> to <paramref name="now"/> (under the function lock).</summary>
    void PowerStateChanged(PowerState previous, PowerState now);
}
