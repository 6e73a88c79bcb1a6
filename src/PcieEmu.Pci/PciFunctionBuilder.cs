using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Scheduling;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Pci;

/// <summary>
/// Assembles a <see cref="PciFunction"/>: identity, BARs, ROM and capabilities. Capabilities are placed in
/// the order added (standard ones from 0x40, extended ones from 0x100, each dword-aligned after the previous)
/// and linked automatically. Everything is validated here, so a bad model fails at build time with a message: the
/// BAR methods and <see cref="Build"/> throw <see cref="PciConfigurationException"/>. Each method returns the builder.
/// </summary>
/// <param name="name">The function's name: in logs, reports and as <see cref="PciFunction.Name"/>.</param>
public sealed class PciFunctionBuilder(string name)
{
    private readonly BarSpec?[] _bars = new BarSpec?[6];
    private readonly List<PciCapability> _capabilities = [];
    private readonly List<PciExtendedCapability> _extended = [];
    private PciIdentity? _identity;
    private bool _extendedConfig;
    private ExpansionRom? _rom;
    private ILoggerFactory _loggerFactory = NullLoggerFactory.Instance;
    private int _maxDmaMappings = DmaController.DefaultMaxMappings;
    private IDeviceClock? _clock;
    private SchedulerMode _schedulerMode = SchedulerMode.RealTime;

    /// <summary>The IDs and class code (required).</summary>
    public PciFunctionBuilder Identity(PciIdentity identity)
    {
        _identity = identity;
        return this;
    }

    /// <summary>4 KiB configuration space (PCI Express extended); required for extended capabilities.</summary>
    public PciFunctionBuilder ExtendedConfigSpace(bool extended = true)
    {
        _extendedConfig = extended;
        return this;
    }

    /// <summary>Where the function's logs go (default: nowhere).</summary>
    public PciFunctionBuilder Logging(ILoggerFactory loggerFactory)
    {
        _loggerFactory = loggerFactory;
        return this;
    }

    /// <summary>
    /// The device's time (default: host monotonic time) and how its scheduler runs (default: its own thread in real
    /// time). Manual and External need a <see cref="ManualDeviceClock"/>.
    /// </summary>
    public PciFunctionBuilder Timing(IDeviceClock clock, SchedulerMode mode = SchedulerMode.RealTime)
    {
        _clock = clock;
        _schedulerMode = mode;
        return this;
    }

    /// <summary>Most DMA mappings the client may hold at once (default <see cref="DmaController.DefaultMaxMappings"/>); more are refused.</summary>
    public PciFunctionBuilder MaxDmaMappings(int count)
    {
        _maxDmaMappings = count;
        return this;
    }

    /// <summary>A trapped memory BAR: every access goes to <paramref name="handler"/> in the widths it supports.</summary>
    /// <param name="index">BAR slot 0 … 5 (0 … 4 for a 64-bit BAR, which also takes the next slot).</param>
    /// <param name="barName">Name for logs.</param>
    /// <param name="size">Bytes: a power of two ≥ 16 (at most 2 GiB for a 32-bit BAR).</param>
    /// <param name="handler">The device's handler; called under the function lock.</param>
    /// <param name="accessSizes">The widths <paramref name="handler"/> takes; the framework splits other accesses.</param>
    /// <param name="is64Bit">A 64-bit BAR (may be placed above 4 GiB).</param>
    /// <param name="prefetchable">Mark it prefetchable (only for memory without read side effects).</param>
    /// <exception cref="PciConfigurationException">The slot is invalid or taken, or the size is not allowed.</exception>
    public PciFunctionBuilder MemoryBar(int index, string barName, ulong size, IMmioHandler handler, AccessSizes accessSizes,
        bool is64Bit = false, bool prefetchable = false) =>
        AddBar(new BarSpec(index, barName, is64Bit ? BarKind.Memory64 : BarKind.Memory32, prefetchable, size, handler, accessSizes, false, null));

    /// <summary>An I/O BAR (trapped): every access goes to <paramref name="handler"/>.</summary>
    /// <param name="index">BAR slot 0 … 5.</param>
    /// <param name="barName">Name for logs.</param>
    /// <param name="size">Bytes: a power of two, 4 … 256.</param>
    /// <param name="handler">The device's handler; called under the function lock.</param>
    /// <param name="accessSizes">The widths <paramref name="handler"/> takes.</param>
    /// <exception cref="PciConfigurationException">The slot is invalid or taken, or the size is not allowed.</exception>
    public PciFunctionBuilder IoBar(int index, string barName, ulong size, IMmioHandler handler, AccessSizes accessSizes) =>
        AddBar(new BarSpec(index, barName, BarKind.Io, false, size, handler, accessSizes, false, null));

    /// <summary>
    /// A memory BAR backed by shared memory the client may map (guest accesses then skip the server).
    /// The memory (<see cref="PciBar.Memory"/>) starts zeroed and is zeroed again at every function reset.
    /// </summary>
    /// <param name="index">BAR slot 0 … 5 (0 … 4 for a 64-bit BAR).</param>
    /// <param name="barName">Name for logs and for the memfd.</param>
    /// <param name="size">Bytes: a power of two, at least one page (at most 2 GiB for a 32-bit BAR).</param>
    /// <param name="is64Bit">A 64-bit BAR.</param>
    /// <param name="prefetchable">Mark it prefetchable.</param>
    /// <param name="mmapAreas">The parts the client may map (page-aligned, inside the BAR); default the whole BAR, empty for none (every access then goes through the server).</param>
    /// <exception cref="PciConfigurationException">The slot is invalid or taken, or the size or an area is not allowed.</exception>
    public PciFunctionBuilder SharedMemoryBar(int index, string barName, ulong size, bool is64Bit = false, bool prefetchable = true,
        IReadOnlyList<MmapArea>? mmapAreas = null) =>
        AddBar(new BarSpec(index, barName, is64Bit ? BarKind.Memory64 : BarKind.Memory32, prefetchable, size, null, AccessSizes.All, true,
            mmapAreas ?? [new MmapArea(0, size)]));

    /// <summary>
    /// A memory BAR that holds only framework-owned structures (the MSI-X table and PBA): the framework serves those,
    /// the rest reads all-ones and drops writes.
    /// </summary>
    /// <param name="index">BAR slot 0 … 5 (0 … 4 for a 64-bit BAR).</param>
    /// <param name="barName">Name for logs.</param>
    /// <param name="size">Bytes: a power of two ≥ 16 that holds the table and the PBA.</param>
    /// <param name="is64Bit">A 64-bit BAR.</param>
    /// <exception cref="PciConfigurationException">The slot is invalid or taken, or the size is not allowed.</exception>
    public PciFunctionBuilder ReservedMemoryBar(int index, string barName, ulong size, bool is64Bit = false) =>
        AddBar(new BarSpec(index, barName, is64Bit ? BarKind.Memory64 : BarKind.Memory32, false, size, new AllOnesHandler(), AccessSizes.All, false, null));

    /// <summary>An expansion ROM with <paramref name="image"/> (not copied), 1 byte … <see cref="Bars.ExpansionRom.MaxImageBytes"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="image"/> is empty or too large.</exception>
    public PciFunctionBuilder ExpansionRom(byte[] image)
    {
        _rom = new ExpansionRom(image);
        return this;
    }

    /// <summary>Appends a capability to the 0x40–0xFF list (in the order added). Add each instance to one builder only.</summary>
    public PciFunctionBuilder Capability(PciCapability capability)
    {
        _capabilities.Add(capability);
        return this;
    }

    /// <summary>Appends an extended capability from 0x100 (needs <see cref="ExtendedConfigSpace"/>). Add each instance to one builder only.</summary>
    public PciFunctionBuilder Capability(PciExtendedCapability capability)
    {
        _extended.Add(capability);
        return this;
    }

    private PciFunctionBuilder AddBar(BarSpec spec)
    {
        bool is64 = spec.Kind == BarKind.Memory64;
        if (spec.Index is < 0 or > 5 || (is64 && spec.Index == 5))
        {
            throw new PciConfigurationException($"{name}: BAR{spec.Index} is not a valid {(is64 ? "64-bit " : "")}BAR slot");
        }

        if (_bars[spec.Index] is not null || (is64 && _bars[spec.Index + 1] is not null) || (spec.Index > 0 && _bars[spec.Index - 1] is { Kind: BarKind.Memory64 }))
        {
            throw new PciConfigurationException($"{name}: BAR{spec.Index} is already taken");
        }

        ulong min = spec.Kind == BarKind.Io ? 4UL : 16UL;
        if (spec.Size < min || (spec.Size & (spec.Size - 1)) != 0)
        {
            throw new PciConfigurationException($"{name}: BAR{spec.Index} size {spec.Size} must be a power of two ≥ {min}");
        }

        if (spec.Kind == BarKind.Io && spec.Size > 256)
        {
            throw new PciConfigurationException($"{name}: I/O BAR{spec.Index} larger than 256 bytes");
        }

        if (!is64 && spec.Size > 1UL << 31)
        {
            throw new PciConfigurationException($"{name}: 32-bit BAR{spec.Index} cannot be {spec.Size} bytes");
        }

        if (spec.Shared)
        {
            ulong page = (ulong)Environment.SystemPageSize;
            if (spec.Size < page)
            {
                throw new PciConfigurationException($"{name}: shared-memory BAR{spec.Index} must be at least one page ({page} B)");
            }

            foreach (var a in spec.MmapAreas!)
            {
                if (a.Size == 0 || a.Offset % page != 0 || a.Size % page != 0 || a.Offset + a.Size > spec.Size)
                {
                    throw new PciConfigurationException($"{name}: BAR{spec.Index} mmap area [0x{a.Offset:x}, +0x{a.Size:x}) must be page-aligned and inside the BAR");
                }
            }
        }

        _bars[spec.Index] = spec;
        return this;
    }

    /// <summary>
    /// Builds the function: config space at its reset values, BARs, capabilities placed and linked, register banks
    /// attached to the function's checker. The caller owns the function and disposes it. Build once per builder.
    /// </summary>
    /// <exception cref="PciConfigurationException">
    /// No identity; extended capabilities without the extended space; capabilities that do not fit; an MSI-X table or
    /// PBA outside its memory BAR, or the two overlapping.
    /// </exception>
    public PciFunction Build()
    {
        var identity = _identity ?? throw new PciConfigurationException($"{name}: no identity");
        if (_extended.Count > 0 && !_extendedConfig)
        {
            throw new PciConfigurationException($"{name}: extended capabilities need the 4 KiB configuration space");
        }

        var config = new ConfigSpace(_extendedConfig ? PciConfigRegisters.ExtendedSize : PciConfigRegisters.StandardSize);
        bool anyIo = _bars.Any(b => b is { Kind: BarKind.Io });
        bool anyMem = _bars.Any(b => b is not null && b.Kind != BarKind.Io) || _rom is not null;

        config.Define(PciConfigRegisters.VendorId, 2, identity.VendorId);
        config.Define(PciConfigRegisters.DeviceId, 2, identity.DeviceId);
        uint commandWritable = (uint)(PciCommand.BusMaster | PciCommand.ParityErrorResponse | PciCommand.Serr | PciCommand.InterruptDisable)
                               | (anyIo ? (uint)PciCommand.IoSpace : 0) | (anyMem ? (uint)PciCommand.MemorySpace : 0);
        config.Define(PciConfigRegisters.Command, 2, 0, writable: commandWritable);
        bool anyCaps = _capabilities.Count > 0;
        config.Define(PciConfigRegisters.Status, 2, anyCaps ? (uint)PciStatus.CapabilitiesList : 0, w1c: (uint)PciStatus.W1cBits);
        config.Define(PciConfigRegisters.Revision, 1, identity.Revision);
        config.Define(PciConfigRegisters.ClassCode, 1, identity.ClassCode & 0xFF);
        config.Define(PciConfigRegisters.ClassCode + 1, 2, (identity.ClassCode >> 8) & 0xFFFF);
        config.Define(PciConfigRegisters.CacheLineSize, 1, 0, writable: 0xFF);
        config.Define(PciConfigRegisters.SubsystemVendorId, 2, identity.SubsystemVendorId);
        config.Define(PciConfigRegisters.SubsystemId, 2, identity.SubsystemId);
        config.Define(PciConfigRegisters.InterruptLine, 1, 0, writable: 0xFF);
        config.Define(PciConfigRegisters.InterruptPin, 1, 1); // INTA#

        var bars = new PciBar?[6];
        foreach (var spec in _bars)
        {
            if (spec is null)
            {
                continue;
            }

            var memory = spec.Shared ? new SharedMemory($"{name}-bar{spec.Index}", spec.Size) : null;
            var bar = new PciBar(spec.Index, spec.Name, spec.Kind, spec.Prefetchable, spec.Size, spec.Handler, spec.AccessSizes,
                memory, spec.MmapAreas ?? []);
            bars[spec.Index] = bar;
            int reg = PciConfigRegisters.BarOffset(spec.Index);
            ulong addressMask = ~(spec.Size - 1);
            uint lowMask = (uint)addressMask & (spec.Kind == BarKind.Io ? 0xFFFF_FFFCu : 0xFFFF_FFF0u);
            config.Define(reg, 4, bar.TypeBits, writable: lowMask);
            if (spec.Kind == BarKind.Memory64)
            {
                config.Define(reg + 4, 4, 0, writable: (uint)(addressMask >> 32));
            }
        }

        if (_rom is not null)
        {
            config.Define(PciConfigRegisters.ExpansionRom, 4, 0, writable: ((uint)~(_rom.Size - 1) & 0xFFFF_F800u) | 1);
        }

        PlaceCapabilities(config);
        ValidateMsix(bars);
        var function = new PciFunction(name, config, bars, _rom, _capabilities, _extended, _loggerFactory, _maxDmaMappings,
            _clock ?? new MonotonicDeviceClock(), _schedulerMode);
        AttachRegisterBanks(function);
        return function;
    }

    /// <summary>Register banks serving BARs report rule breaks to the function's checker, which names their registers.</summary>
    private static void AttachRegisterBanks(PciFunction function)
    {
        var banks = new Registers.RegisterBank?[6];
        foreach (var bar in function.Bars)
        {
            if (bar?.Handler is Registers.RegisterBank bank)
            {
                bank.AttachChecker(function.Checker, bar.Index);
                banks[bar.Index] = bank;
            }
        }

        if (banks.Any(b => b is not null))
        {
            function.Checker.RegisterNames = (bar, offset) =>
                bar is >= 0 and < 6 && banks[bar]?.Find(offset) is { } reg
                    ? (offset == reg.Offset ? reg.Name : $"{reg.Name}+{offset - reg.Offset}")
                    : null;
        }
    }

    private void PlaceCapabilities(ConfigSpace config)
    {
        int offset = PciConfigRegisters.HeaderEnd;
        PciCapability? previous = null;
        foreach (var cap in _capabilities)
        {
            if (offset + cap.Length > PciConfigRegisters.StandardSize)
            {
                throw new PciConfigurationException($"{name}: capabilities do not fit in 0x40–0xFF ({cap.Name} would end at 0x{offset + cap.Length:x})");
            }

            cap.Offset = offset;
            config.Define(offset, 1, cap.Id);
            config.Define(offset + 1, 1, 0);
            if (previous is null)
            {
                config.Define(PciConfigRegisters.CapabilitiesPointer, 1, (uint)offset);
            }
            else
            {
                config.Define(previous.Offset + 1, 1, (uint)offset);
            }

            previous = cap;
            offset = (offset + cap.Length + 3) & ~3;
        }

        int ext = PciConfigRegisters.FirstExtendedCapability;
        PciExtendedCapability? prevExt = null;
        foreach (var cap in _extended)
        {
            if (ext + cap.Length > PciConfigRegisters.ExtendedSize)
            {
                throw new PciConfigurationException($"{name}: extended capabilities do not fit in 0x100–0xFFF");
            }

            cap.Offset = ext;
            config.Define(ext, 4, cap.Id | ((uint)cap.Version << 16));
            if (prevExt is not null)
            {
                uint header = config.Get32(prevExt.Offset);
                config.Define(prevExt.Offset, 4, (header & 0x000F_FFFF) | ((uint)ext << 20));
            }

            prevExt = cap;
            ext = (ext + cap.Length + 3) & ~3;
        }

        // Capabilities declare their registers after the headers exist, with the function attached later.
        var installer = new InstallHost(config);
        foreach (var cap in _capabilities.Cast<PciCapabilityBase>().Concat(_extended))
        {
            cap.Attach(installer);
            cap.Install(config);
        }
    }

    private void ValidateMsix(PciBar?[] bars)
    {
        var msix = _capabilities.OfType<MsixCapability>().FirstOrDefault();
        if (msix is null)
        {
            return;
        }

        foreach (var (bar, offset, size, what) in new[] { (msix.TableBar, (ulong)msix.TableOffset, msix.TableSize, "table"), (msix.PbaBar, (ulong)msix.PbaOffset, msix.PbaSize, "PBA") })
        {
            var b = bar is >= 0 and < 6 ? bars[bar] : null;
            if (b is null || !b.IsMemory || offset + size > b.Size)
            {
                throw new PciConfigurationException($"{name}: MSI-X {what} [0x{offset:x}, +0x{size:x}) must lie inside memory BAR{bar}");
            }
        }

        if (msix.TableBar == msix.PbaBar && msix.TableOffset < msix.PbaOffset + msix.PbaSize && msix.PbaOffset < msix.TableOffset + msix.TableSize)
        {
            throw new PciConfigurationException($"{name}: MSI-X table and PBA overlap");
        }
    }

    private sealed record BarSpec(int Index, string Name, BarKind Kind, bool Prefetchable, ulong Size, IMmioHandler? Handler,
        AccessSizes AccessSizes, bool Shared, IReadOnlyList<MmapArea>? MmapAreas);

    private sealed class AllOnesHandler : IMmioHandler
    {
        public ulong Read(ulong offset, AccessSize size) => size.Mask();

        public void Write(ulong offset, AccessSize size, ulong value)
        {
        }
    }

    private sealed class InstallHost(ConfigSpace config) : ICapabilityHost
    {
        public ConfigSpace Config => config;

        public Interrupts.InterruptController Interrupts => throw new InvalidOperationException("not available while installing");

        public void RequestReset(ResetKind kind) => throw new InvalidOperationException("not available while installing");

        public void PowerStateChanged(PowerState previous, PowerState now) => throw new InvalidOperationException("not available while installing");
    }
}

/// <summary>A function's description is invalid (a BAR slot taken twice, capabilities that do not fit, …); the message says what and where.</summary>
/// <param name="message">What is wrong, starting with the function's name.</param>
public sealed class PciConfigurationException(string message) : Exception(message);
