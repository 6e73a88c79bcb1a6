using PcieEmu.Pci.Config;

namespace PcieEmu.Pci.Capabilities;

/// <summary>
/// A capability structure. The builder places it (<see cref="Offset"/>) and links it; the capability only
/// declares its registers relative to its own offset and reacts to guest writes inside its range.
/// </summary>
public abstract class PciCapabilityBase
{
    private ICapabilityHost? _host;

    /// <summary>Absolute offset in config space, assigned when the function is built.</summary>
    public int Offset { get; internal set; }

    /// <summary>Bytes the structure occupies, header included.</summary>
    public abstract int Length { get; }

    public abstract string Name { get; }

    protected ICapabilityHost Host => _host ?? throw new InvalidOperationException($"{Name} is not attached to a function");

    protected ConfigSpace Config => Host.Config;

    internal void Attach(ICapabilityHost host) => _host = host;

    /// <summary>Declares registers (values and masks) after the header. Called once at build time.</summary>
    protected internal abstract void Install(ConfigSpace config);

    /// <summary>
    /// A guest write landed inside this capability. <paramref name="relativeOffset"/> is from <see cref="Offset"/>;
    /// <paramref name="oldValue"/> holds the bytes before the write.
    /// </summary>
    protected internal virtual void OnWritten(int relativeOffset, int length, uint oldValue)
    {
    }

    /// <summary>Called before config space is restored to its reset image (to keep sticky bits).</summary>
    protected internal virtual void BeforeReset()
    {
    }

    /// <summary>Called after config space was restored to its reset image.</summary>
    protected internal virtual void OnReset()
    {
    }

    protected void Define(int relativeOffset, int length, uint value, uint writable = 0, uint w1c = 0) =>
        Config.Define(Offset + relativeOffset, length, value, writable, w1c);

    protected ushort Get16(int relativeOffset) => Config.Get16(Offset + relativeOffset);

    protected uint Get32(int relativeOffset) => Config.Get32(Offset + relativeOffset);

    protected void Set16(int relativeOffset, ushort value) => Config.Set16(Offset + relativeOffset, value);

    protected void Set32(int relativeOffset, uint value) => Config.Set32(Offset + relativeOffset, value);

    protected static bool Touches(int relativeOffset, int length, int register, int registerLength) =>
        relativeOffset < register + registerLength && register < relativeOffset + length;
}

/// <summary>A capability in the 0x40–0xFF list: 1-byte ID, 1-byte next pointer.</summary>
public abstract class PciCapability : PciCapabilityBase
{
    public abstract byte Id { get; }
}

/// <summary>A PCI Express extended capability at 0x100+: 16-bit ID, 4-bit version, 12-bit next offset.</summary>
public abstract class PciExtendedCapability : PciCapabilityBase
{
    public abstract ushort Id { get; }

    public abstract byte Version { get; }
}

/// <summary>What a capability may ask of its function.</summary>
public interface ICapabilityHost
{
    ConfigSpace Config { get; }

    Interrupts.InterruptController Interrupts { get; }

    /// <summary>Schedules a reset to run once the current config access has finished.</summary>
    void RequestReset(ResetKind kind);

    /// <summary>The driver moved the function from <paramref name="previous"/> to <paramref name="now"/> (under the function lock).</summary>
    void PowerStateChanged(PowerState previous, PowerState now);
}
