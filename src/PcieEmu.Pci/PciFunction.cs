using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Checking;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;
using PcieEmu.Pci.Scheduling;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Pci;

/// <summary>
/// A PCI Express function as the bus sees it: configuration space with its semantics, BARs, interrupts and
/// DMA. Transports (vfio-user, trace replay, tests) drive it through the bus-side methods; devices plug in
/// through BAR handlers and reset callbacks and use <see cref="Interrupts"/>, <see cref="Dma"/>, <see cref="Clock"/>
/// and <see cref="Scheduler"/>. It knows nothing about any transport. All bus-side methods serialise on
/// <see cref="Sync"/>, which the scheduler's work also takes when it touches registers (never while doing DMA).
/// An observer (<see cref="Observe"/>: a trace recorder or replayer) is told of every stimulus and of what the
/// device did in it; devices never see it. Threads and locks: src/THREADS.md.
/// </summary>
public sealed partial class PciFunction : ICapabilityHost, IDisposable
{
    private readonly ILogger _logger;
    private readonly PciBar?[] _bars;
    private readonly IReadOnlyList<PciCapability> _capabilities;
    private readonly IReadOnlyList<PciExtendedCapability> _extendedCapabilities;
    private readonly ConfigSpace.ConfigImage _resetImage;
    private readonly List<Action<ResetKind>> _resetHandlers = [];
    private readonly FunctionDmaSpace _dmaSpace;
    private readonly DecodedWindows _decodedWindows = new();
    private readonly PciCapabilityBase[] _allCapabilities;
    private readonly PowerManagementCapability? _powerManagement;
    private readonly BarAccessRouter _barAccess;
    private ResetKind? _requestedReset;
    private FunctionObservation? _observation;
    private PciCommand _lastCommand;

    internal PciFunction(string name, ConfigSpace config, PciBar?[] bars, ExpansionRom? rom,
        IReadOnlyList<PciCapability> capabilities, IReadOnlyList<PciExtendedCapability> extendedCapabilities,
        ILoggerFactory loggerFactory, int maxDmaMappings, IDeviceClock clock, SchedulerMode schedulerMode)
    {
        Name = name;
        Config = config;
        _bars = bars;
        Rom = rom;
        _capabilities = capabilities;
        _extendedCapabilities = extendedCapabilities;
        _allCapabilities = [.. capabilities, .. extendedCapabilities];
        _logger = loggerFactory.CreateLogger($"PcieEmu.Pci.Function.{name}");
        Interrupts = new InterruptController(Sync, config, loggerFactory.CreateLogger("PcieEmu.Pci.Interrupts"));
        DmaMappings = new DmaController(loggerFactory.CreateLogger("PcieEmu.Pci.Dma"), maxDmaMappings);
        _dmaSpace = new FunctionDmaSpace(this, loggerFactory.CreateLogger($"PcieEmu.Pci.Function.{name}"));
        Clock = new FunctionClock(clock, () => _observation);
        Scheduler = new DeviceScheduler(clock, schedulerMode, loggerFactory.CreateLogger("PcieEmu.Pci.Scheduler"), () => _observation);
        Checker = new DriverChecker(name, Clock);
        Interrupts.Checker = Checker;

        foreach (var c in _allCapabilities)
        {
            c.Attach(this);
        }

        // Cached: the bus-access path must not search (or allocate) per access.
        _powerManagement = Capability<PowerManagementCapability>();
        _barAccess = new BarAccessRouter(name, bars, Capability<MsixCapability>(), Interrupts, Checker, _logger);

        Interrupts.Bind(Capability<MsiCapability>(), Capability<MsixCapability>());
        Interrupts.MessagesAllowed = () => (Command & PciCommand.BusMaster) != 0 && PowerState == PowerState.D0;
        Interrupts.IntxAllowed = () => PowerState == PowerState.D0;
        if (Capability<AerCapability>() is { } aer && Capability<PciExpressCapability>() is { } pcie)
        {
            aer.ErrorReported += pcie.ReportError;
        }

        _resetImage = config.Capture();
        Statistics = new FunctionStatistics();
    }

    /// <summary>
    /// The name given to <see cref="PciFunctionBuilder"/>: it labels this function's logs (category
    /// <c>PcieEmu.Pci.Function.&lt;Name&gt;</c>), its scheduler thread and its checker's violations.
    /// </summary>
    public string Name { get; }

    /// <summary>The lock every bus access holds. Device workers take it to touch registers, never around DMA.</summary>
    public object Sync { get; } = new();

    /// <summary>
    /// The configuration space with its writable and W1C masks. Read it freely (read under <see cref="Sync"/> for a value
    /// consistent with a concurrent bus write); the guest changes it only through <see cref="ConfigWrite"/>, which also
    /// applies the semantics (BAR decode, capabilities, resets) that writing the space directly would skip.
    /// </summary>
    public ConfigSpace Config { get; }

    /// <summary>The expansion ROM the function was built with, or null when it has none (its ROM region then reads all-ones).</summary>
    public ExpansionRom? Rom { get; }

    /// <summary>
    /// The function's interrupts: the device raises MSI-X/MSI vectors or sets its INTx level here, and the transport
    /// assigns the client's eventfds. Shares <see cref="Sync"/> as its lock.
    /// </summary>
    public InterruptController Interrupts { get; }

    /// <summary>The IOVA table the transport fills from the client's DMA_MAP/DMA_UNMAP.</summary>
    public DmaController DmaMappings { get; }

    /// <summary>The device's DMA view: gated on Bus Master Enable, refusing the function's own BARs.</summary>
    public IDmaSpace Dma => _dmaSpace;

    /// <summary>The device's time (its injected clock; inside an observed stimulus, that stimulus's instant).</summary>
    public IDeviceClock Clock { get; }

    /// <summary>The device's one scheduler: jobs off the bus path, and work at deadlines.</summary>
    public DeviceScheduler Scheduler { get; }

    /// <summary>Counters of bus accesses, resets and DMA since the function was built (a reset keeps them); any thread.</summary>
    public FunctionStatistics Statistics { get; }

    /// <summary>What the driver did wrong (and host problems, kept apart): the device's rules and the framework's.</summary>
    public DriverChecker Checker { get; }

    /// <summary>
    /// The six BAR slots, indexed by BAR number: null for an unused slot and for the upper half of a 64-bit BAR.
    /// Fixed when the function is built.
    /// </summary>
    public IReadOnlyList<PciBar?> Bars => _bars;

    /// <summary>
    /// Every capability in configuration space, the standard ones (in list order) then the PCI Express extended ones.
    /// Fixed when the function is built; read a capability's state under <see cref="Sync"/>.
    /// </summary>
    public IReadOnlyList<PciCapabilityBase> AllCapabilities => _allCapabilities;

    /// <summary>The first capability of type <typeparamref name="T"/>, or null when the function has none.</summary>
    /// <typeparam name="T">A capability class, such as <see cref="MsixCapability"/> or <see cref="PowerManagementCapability"/>.</typeparam>
    public T? Capability<T>()
        where T : PciCapabilityBase => AllCapabilities.OfType<T>().FirstOrDefault();

    /// <summary>
    /// The power state the driver set in PMCSR; always <see cref="PowerState.D0"/> without a power-management
    /// capability. In D3hot the function decodes no BAR (reads all-ones, writes dropped); outside D0 it sends no
    /// interrupts. Read under
    /// <see cref="Sync"/> to act on it.
    /// </summary>
    public PowerState PowerState => _powerManagement?.State ?? PowerState.D0;

    /// <summary>
    /// The COMMAND register as the guest last wrote it: memory decode, bus mastering (which gates <see cref="Dma"/> and
    /// MSI/MSI-X), INTx disable. Read under <see cref="Sync"/> to act on it.
    /// </summary>
    public PciCommand Command => (PciCommand)Config.Get16(PciConfigRegisters.Command);

    /// <summary>How this function is observed, or null (the normal, zero-cost case).</summary>
    public FunctionObservation? Observation => _observation;

    /// <summary>
    /// Starts observing (src/PcieEmu.Tracing/TRACE-FORMAT.md): from now on every bus access, DMA and interrupt set-up
    /// and scheduler step is a unit, and the device's DMA and interrupts are told to <paramref name="observer"/> in
    /// it. Before any client traffic; one observer per function.
    /// </summary>
    public FunctionObservation Observe(IFunctionObserver observer)
    {
        var observation = new FunctionObservation(observer, () => ((FunctionClock)Clock).Source.NowNanoseconds);
        if (Interlocked.CompareExchange(ref _observation, observation, null) is not null)
        {
            throw new InvalidOperationException($"{Name} is already observed");
        }

        Interrupts.Observation = observation;
        DmaMappings.Observation = observation;
        Interrupts.Delivered += (index, vector) => observation.Note(new TraceRecord(TraceEventKind.Interrupt, a: (ulong)index, b: (ulong)vector));
        CheckerRecords.Record(Checker, observation);
        return observation;
    }

    /// <summary>Registers a device callback run (under the lock) on every function reset.</summary>
    public void OnReset(Action<ResetKind> handler) => _resetHandlers.Add(handler);

    // ---------------------------------------------------------------- configuration space

    /// <summary>Reads any run of configuration bytes (the client may read the whole space at once).</summary>
    public void ConfigRead(int offset, Span<byte> data)
    {
        using var unit = _observation is { } t ? t.Begin(TraceEventKind.ConfigRead, (ulong)offset, (ulong)data.Length) : default;
        ConfigReadLocked(offset, data);
        unit.NoteReadData(data);
    }

    private void ConfigReadLocked(int offset, Span<byte> data)
    {
        lock (Sync)
        {
            using var access = Checker.Enter(GuestAccessKind.ConfigRead, 0, (ulong)offset, data.Length, 0);
            int done = 0;
            while (done < data.Length)
            {
                int at = offset + done;
                int len = ChunkLength(at, data.Length - done);
                uint v = Config.Read(at, len);
                for (int i = 0; i < len; i++)
                {
                    data[done + i] = (byte)(v >> (8 * i));
                }

                done += len;
            }

            Statistics.ConfigReads++;
        }
    }

    /// <summary>Writes configuration bytes through the masks, then applies their semantics.</summary>
    public void ConfigWrite(int offset, ReadOnlySpan<byte> data)
    {
        using var unit = _observation is { } t ? t.Begin(TraceEventKind.ConfigWrite, (ulong)offset, data: data) : default;
        lock (Sync)
        {
            using var access = Checker.Enter(GuestAccessKind.ConfigWrite, 0, (ulong)offset, data.Length, BusBytes.Load(data[..Math.Min(data.Length, 8)]));
            int done = 0;
            while (done < data.Length)
            {
                int at = offset + done;
                int len = ChunkLength(at, data.Length - done);
                uint v = 0;
                for (int i = 0; i < len; i++)
                {
                    v |= (uint)data[done + i] << (8 * i);
                }

                uint old = Config.Write(at, len, v);
                AfterConfigWrite(at, len, old);
                done += len;
            }

            Statistics.ConfigWrites++;
            if (_requestedReset is { } kind)
            {
                _requestedReset = null;
                ResetLocked(kind);
            }
        }
    }

    private static int ChunkLength(int offset, int remaining)
    {
        int len = 4 - (offset & 3);
        while (len > remaining)
        {
            len >>= 1;
        }

        while ((offset & (len - 1)) != 0)
        {
            len >>= 1;
        }

        return Math.Max(len, 1);
    }

    private void AfterConfigWrite(int offset, int length, uint old)
    {
        if (Touches(offset, length, PciConfigRegisters.Command, 2))
        {
            var now = Command;
            if (((_lastCommand ^ now) & PciCommand.BusMaster) != 0)
            {
                LogBusMaster(_logger, Name, (now & PciCommand.BusMaster) != 0);
            }

            _lastCommand = now;
            _decodedWindows.Recompute(Config, _bars, Rom);
            Interrupts.ReevaluateRouting();
        }

        if (Touches(offset, length, PciConfigRegisters.Bar0, 24) || Touches(offset, length, PciConfigRegisters.ExpansionRom, 4))
        {
            _decodedWindows.Recompute(Config, _bars, Rom);
        }

        foreach (var c in _allCapabilities)
        {
            if (offset < c.Offset + c.Length && c.Offset < offset + length)
            {
                c.OnWritten(offset - c.Offset, length, old);
            }
        }
    }

    private static bool Touches(int offset, int length, int register, int registerLength) =>
        offset < register + registerLength && register < offset + length;

    void ICapabilityHost.RequestReset(ResetKind kind) => _requestedReset = kind;

    void ICapabilityHost.PowerStateChanged(PowerState previous, PowerState now)
    {
        LogPowerState(_logger, Name, previous, now);
        PowerStateChanged?.Invoke(previous, now);
    }

    /// <summary>
    /// The driver changed the function's power state (PMCSR), under the function lock: a device checks here what a
    /// driver must have done first (e.g. stopped its DMA before D3hot). Keep handlers O(1).
    /// </summary>
    public event Action<PowerState, PowerState>? PowerStateChanged;

    // ---------------------------------------------------------------- BARs and ROM

    /// <summary>
    /// A read of <paramref name="data"/>.Length bytes at <paramref name="offset"/> of BAR <paramref name="bar"/>.
    /// The transport has validated bar and range. Long accesses are split into pieces the BAR takes; MSI-X
    /// table and PBA pieces are served by the framework. A piece no width fits is refused: it reads all-ones.
    /// </summary>
    public void BarRead(int bar, ulong offset, Span<byte> data)
    {
        using var unit = _observation is { } t ? t.Begin(TraceEventKind.BarRead, (ulong)bar, offset, (ulong)data.Length) : default;
        BarReadLocked(bar, offset, data);
        unit.NoteReadData(data);
    }

    private void BarReadLocked(int bar, ulong offset, Span<byte> data)
    {
        lock (Sync)
        {
            using var access = Checker.Enter(GuestAccessKind.BarRead, bar, offset, data.Length, 0);
            Statistics.BarReads++;
            _barAccess.Read(bar, offset, data, PowerState == PowerState.D3Hot);
        }
    }

    /// <summary>A write to BAR <paramref name="bar"/>; see <see cref="BarRead"/>. Refused pieces are dropped (logged).</summary>
    public void BarWrite(int bar, ulong offset, ReadOnlySpan<byte> data)
    {
        using var unit = _observation is { } t ? t.Begin(TraceEventKind.BarWrite, (ulong)bar, offset, data: data) : default;
        lock (Sync)
        {
            using var access = Checker.Enter(GuestAccessKind.BarWrite, bar, offset, data.Length, BusBytes.Load(data[..Math.Min(data.Length, 8)]));
            Statistics.BarWrites++;
            _barAccess.Write(bar, offset, data, PowerState == PowerState.D3Hot);
        }
    }

    /// <summary>
    /// A read of the expansion ROM region at <paramref name="offset"/>: the image's bytes, 0xFF past its end or when the
    /// function has no ROM. The image never changes, so this takes no lock; any thread. ROM enable in the ROM BAR is
    /// not consulted: the client reads the ROM as a region of its own.
    /// </summary>
    public void RomRead(ulong offset, Span<byte> data)
    {
        using var unit = _observation is { } t ? t.Begin(TraceEventKind.RomRead, offset, (ulong)data.Length) : default;
        if (Rom is null)
        {
            data.Fill(0xFF);
        }
        else
        {
            Rom.Read(offset, data);
        }

        unit.NoteReadData(data);
    }

    // ---------------------------------------------------------------- reset

    /// <summary>Resets the function (see <see cref="ResetKind"/>) and then the device, under the lock.</summary>
    public void Reset(ResetKind kind)
    {
        using var unit = _observation is { } t ? t.Begin(TraceEventKind.Reset, (ulong)kind) : default;
        lock (Sync)
        {
            using var access = Checker.Enter(GuestAccessKind.Reset, 0, 0, 0, (ulong)kind);
            ResetLocked(kind);
        }
    }

    private void ResetLocked(ResetKind kind)
    {
        LogReset(_logger, Name, kind);
        Statistics.Resets++;
        if (kind is ResetKind.PowerOn or ResetKind.DeviceReset or ResetKind.FunctionLevel or ResetKind.PowerStateTransition)
        {
            foreach (var c in _allCapabilities)
            {
                c.BeforeReset();
            }

            Config.Restore(_resetImage);
            foreach (var c in _allCapabilities)
            {
                c.OnReset();
            }

            foreach (var bar in _bars)
            {
                bar?.Memory?.Clear();
            }

            _lastCommand = Command;
            _decodedWindows.Recompute(Config, _bars, Rom);
            Interrupts.Reset();
        }

        foreach (var handler in _resetHandlers)
        {
            handler(kind);
        }
    }

    /// <summary>Whether [address, address+length) hits a window the function decodes (no DMA into its own BARs).</summary>
    internal bool HitsOwnBar(ulong address, ulong length) => _decodedWindows.Hits(address, length);

    /// <summary>
    /// Stops the scheduler (its thread, in real-time mode), closes the client's interrupt eventfds, drops every DMA
    /// mapping and frees the BARs' shared memory. Call it once no transport serves the function any more; reset
    /// handlers do not run.
    /// </summary>
    public void Dispose()
    {
        Scheduler.Dispose();
        Interrupts.ReleaseClientSignals();
        DmaMappings.Dispose();
        foreach (var b in _bars)
        {
            b?.Memory?.Dispose();
        }
    }

    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "{Function}: reset ({Kind})")]
    private static partial void LogReset(ILogger logger, string function, ResetKind kind);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "{Function}: bus mastering {Enabled}")]
    private static partial void LogBusMaster(ILogger logger, string function, bool enabled);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug, Message = "{Function}: power state {Previous} -> {Now}")]
    private static partial void LogPowerState(ILogger logger, string function, PowerState previous, PowerState now);
}
