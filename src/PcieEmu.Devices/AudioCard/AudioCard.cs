using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.AudioCard.Interrupts;
using PcieEmu.Devices.AudioCard.Streams;
using PcieEmu.Devices.Common;
using PcieEmu.Devices.Models;
using PcieEmu.Pci;
using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Checking;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Observation;
using PcieEmu.Pci.Registers;
using PcieEmu.Pci.Scheduling;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Devices.AudioCard;

/// <summary>
/// The synthetic PCIe audio/capture card (firmware-models/pcieemu-audio/README.md): identity, capabilities and
/// BARs from the model file; BAR0 registers as registers.json declares them (<see cref="AudioRegisterTable"/>, generated
/// from it; the card implements the side effects it names); the one interrupt recompute (spec §5,
/// <see cref="CardInterrupts"/>); the diagnostic DMA engine (spec §6, <see cref="DiagnosticDmaEngine"/>); the
/// streams (spec §9–§13, <see cref="PlaybackStream"/>, <see cref="CaptureStream"/>). It knows nothing about
/// vfio-user (a transport drives <see cref="Function"/>) nor about tracing (an observer watches the function).
/// Create one with <see cref="CardFactory"/>; the creator owns it and disposes it. Host-side reads (<see cref="Streams"/>,
/// <see cref="PeekRegister"/>, the counters) are safe from any thread while the card runs (src/THREADS.md).
/// </summary>
public sealed partial class AudioCard : IEmulatedCard, IAudioRegisterHandlers
{
    private const int MiscVector = 0;

    private readonly ILogger _logger;
    private readonly RegisterBank _registers;
    private readonly CardInterrupts _interrupts;
    private readonly CauseRegister _cardCauses;
    private readonly DiagnosticDmaEngine _diagnostics;
    private readonly CardStreamHost _streamHost;
    private readonly AudioStream[] _streams;
    private readonly ManualDeviceClock? _manualClock;
    private int _diagVector;

    internal AudioCard(AudioCardModel model, ILoggerFactory loggerFactory, AudioCardOptions? options = null)
    {
        options ??= new AudioCardOptions();
        Model = model;
        _manualClock = options.Clock as ManualDeviceClock;
        _logger = loggerFactory.CreateLogger("PcieEmu.Devices.AudioCard");
        _registers = new RegisterBank("pcieemu-audio BAR0", model.RegistersBar.Size, loggerFactory.CreateLogger("PcieEmu.Devices.AudioCard.Registers"));
        _registers.DefineAll(AudioRegisterTable.CreateDefinitions(this,
            capsReset: (uint)model.PlaybackStreams | ((uint)model.CaptureStreams << 8) | ((uint)model.MsixVectors << 16),
            dmacapsReset: (uint)model.Dma.AddressBits | ((uint)model.Dma.AlignmentLog2 << 8) | ((uint)model.Dma.BoundaryBits << 16),
            maxsegReset: model.Dma.MaxSegmentBytes));
        _interrupts = new CardInterrupts(() => Function!);
        _cardCauses = new CauseRegister(_registers, (uint)AudioRegister.Intsts, () => _registers.Get((uint)AudioRegister.Inten),
            cause => cause == AudioFields.Intsts.Diag ? _diagVector : MiscVector, _interrupts);
        _interrupts.Add(_cardCauses);
        _streamHost = new CardStreamHost(model.Dma, loggerFactory.CreateLogger("PcieEmu.Devices.AudioCard.Streams"));
        _streams = CreateStreams(options);
        Function = BuildFunction(model, loggerFactory, options);
        _streamHost.Function = Function;
        _diagnostics = new DiagnosticDmaEngine(Function, _registers, _cardCauses, model.Dma, _logger);
        Function.Checker.SpecName = AudioRules.Spec;
        _registers.LowHalfFirst = true; // spec §4: a 64-bit register written in halves takes its low half first
        Function.OnReset(OnFunctionReset);
        Function.PowerStateChanged += OnPowerStateChanged;
        foreach (var s in _streams)
        {
            Function.Scheduler.Add(s);
        }

        Function.Scheduler.Start();
    }

    /// <summary>The model file the card was built from: identity, BARs, streams.</summary>
    public AudioCardModel Model { get; }

    CardModel IEmulatedCard.Model => Model;

    /// <summary>The card's PCI function: what a transport serves and an observer watches. Owned by the card.</summary>
    public PciFunction Function { get; }

    /// <summary>What the driver did wrong (the card's rules, <see cref="AudioRules"/>, and the framework's), and host problems.</summary>
    public DriverChecker Checker => Function.Checker;

    /// <summary>The card's own rules (spec §14), besides the framework's <see cref="FunctionRules"/>.</summary>
    public IReadOnlyList<DriverRule> Rules => AudioRules.All;

    /// <summary>The card's trace record kinds: Violation (64) and SinkData (65), src/PcieEmu.Tracing/TRACE-FORMAT.md.</summary>
    public IReadOnlyList<DeviceRecordKind> RecordKinds => AudioCardRecorder.Kinds;

    /// <summary>The card's streams in card order (spec §9).</summary>
    public IReadOnlyList<AudioStream> Streams => _streams;

    /// <summary>The stream the model names <paramref name="name"/> ("playback0").</summary>
    /// <exception cref="ArgumentException">The model has no such stream.</exception>
    public AudioStream Stream(string name) => _streams.FirstOrDefault(s => s.Layout.Name == name)
        ?? throw new ArgumentException($"no stream named {name}", nameof(name));

    /// <summary>The card's time (the function's clock).</summary>
    public IDeviceClock Clock => Function.Clock;

    /// <summary>Interrupt events generated (what INTCNT counts, without its 32-bit wrap).</summary>
    public long InterruptEvents => _interrupts.Events;

    /// <summary>Diagnostic transfers completed (successfully or not).</summary>
    public long DiagnosticTransfers => _diagnostics.Transfers;

    /// <summary>The card's SRAM (BAR per model), or null when the model has none.</summary>
    public SharedMemory? Sram => Model.SramBar is { } b ? Function.Bars[b.Index]?.Memory : null;

    /// <summary>
    /// Starts observing the card (a trace recorder or replayer): the function's units, DMA and interrupts, plus the
    /// samples each playback stream hands its sink (as SinkData hashes). Before any client traffic; once per card.
    /// </summary>
    /// <exception cref="InvalidOperationException">The card is already observed.</exception>
    public FunctionObservation Observe(IFunctionObserver observer)
    {
        var observation = Function.Observe(observer);
        _streamHost.Observer = new AudioCardRecorder(observation);
        return observation;
    }

    /// <summary>Manual scheduling only: moves the card's clock forward, running the streams as time passes.</summary>
    /// <param name="nanoseconds">How far to move, in nanoseconds of device time.</param>
    /// <exception cref="InvalidOperationException">The card runs on real time (no manual clock), or its scheduler is not in Manual mode.</exception>
    public void AdvanceTime(long nanoseconds)
    {
        var clock = _manualClock ?? throw new InvalidOperationException("the card runs on real time");
        Function.Scheduler.AdvanceTo(clock.NowNanoseconds + nanoseconds);
    }

    /// <summary>
    /// Real time: waits until the scheduler has gone once round its loop (jobs, then every stream) after this call.
    /// Tests use it to know the card has run.
    /// </summary>
    internal bool WaitForEngineLoop(TimeSpan timeout)
    {
        for (int i = 0; i < 2; i++)
        {
            using var ran = new ManualResetEventSlim();
            Function.Scheduler.Post(ran.Set);
            if (!ran.Wait(timeout))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Reads a BAR0 register as the bus would (read handlers included), for tests and host-side assertions; a
    /// read-clear register is cleared as a guest read would. Takes the function lock.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="register"/> is not a register of the map.</exception>
    public ulong PeekRegister(AudioRegister register)
    {
        lock (Function.Sync)
        {
            var definition = _registers.Find((uint)register) ?? throw new ArgumentOutOfRangeException(nameof(register));
            return _registers.Read((uint)register, definition.Width == 8 ? AccessSize.Qword : AccessSize.Dword);
        }
    }

    private AudioStream[] CreateStreams(AudioCardOptions options)
    {
        var loopback = new LoopbackHub();
        var streams = new AudioStream[Model.Streams.Count];
        for (int i = 0; i < streams.Length; i++)
        {
            var layout = Model.Streams[i];
            string route = options.Routes.TryGetValue(layout.Name, out var r) ? r
                : layout.Route ?? (layout.Direction == StreamDirection.Playback ? AudioRoutes.DefaultSink : AudioRoutes.DefaultSource);
            AudioStream stream = layout.Direction == StreamDirection.Playback
                ? new PlaybackStream(_streamHost, i, layout, _registers, _interrupts, AudioRoutes.CreateSink(route, loopback, layout.Name, options.KeepSampleBytes), options.KeepSampleBytes)
                : new CaptureStream(_streamHost, i, layout, _registers, _interrupts, AudioRoutes.CreateSource(route, loopback), options.KeepSampleBytes);
            streams[i] = stream;
            _registers.DefineAll(AudioRegisterTable.CreateSdDefinitions(i, stream.RegisterHandlers, capsReset: stream.Caps));
        }

        return streams;
    }

    private PciFunction BuildFunction(AudioCardModel model, ILoggerFactory loggerFactory, AudioCardOptions options)
    {
        var id = model.Identity;
        var b = new PciFunctionBuilder(model.Name)
            .Identity(new PciIdentity(id.VendorId, id.DeviceId, id.SubsystemVendorId, id.SubsystemId, id.ClassCode, id.Revision))
            .ExtendedConfigSpace()
            .Logging(loggerFactory)
            .Timing(options.Clock ?? new MonotonicDeviceClock(), options.Scheduling)
            .MemoryBar(model.RegistersBar.Index, "registers", model.RegistersBar.Size, _registers, AccessSizes.All,
                model.RegistersBar.Is64Bit, model.RegistersBar.Prefetchable)
            .ReservedMemoryBar(model.MsixBar.Index, "msix", model.MsixBar.Size, model.MsixBar.Is64Bit);
        if (model.SramBar is { } sram)
        {
            b.SharedMemoryBar(sram.Index, "sram", sram.Size, sram.Is64Bit, sram.Prefetchable, sram.Mmap ? null : []);
        }

        if (model.ExpansionRom is { } rom)
        {
            b.ExpansionRom(rom);
        }

        b.Capability(new PowerManagementCapability(model.NoSoftReset));
        if (model.MsiVectors > 0)
        {
            b.Capability(new MsiCapability(model.MsiVectors, is64Bit: true, perVectorMask: true));
        }

        b.Capability(new PciExpressCapability(functionLevelReset: true));
        b.Capability(new MsixCapability(model.MsixVectors, model.MsixBar.Index, 0, model.MsixBar.Index, (uint)(model.MsixBar.Size / 2)));
        b.Capability(new AerCapability());
        if (id.SerialNumber is { } serial)
        {
            b.Capability(new DeviceSerialNumberCapability(serial));
        }

        return b.Build();
    }

    // ------------------------------------------------------------------ register side effects (function lock held, O(1))

    /// <summary>GCTL (spec §4, §7): RESET resets registers and engines and clears SRAM.</summary>
    void IAudioRegisterHandlers.GlobalControl(in RegisterWrite write)
    {
        if ((write.NewValue & AudioFields.Gctl.Reset) == 0)
        {
            return;
        }

        LogCardReset(_logger);
        _diagnostics.Reset("GCTL.RESET");
        StopStreams(ResetKind.Device);
        _registers.Reset();
        _interrupts.ResetCount();
        Sram?.Clear();
        _interrupts.Update();
    }

    void IAudioRegisterHandlers.InterruptStatusWritten(in RegisterWrite write) => _cardCauses.StatusChanged();

    void IAudioRegisterHandlers.InterruptEnableWritten(in RegisterWrite write) => _cardCauses.EnablesChanged(write.OldValue);

    /// <summary>DIAG_IRQ: set INTSTS.DIAG and send exactly one event on VECTOR if enabled (spec §5).</summary>
    void IAudioRegisterHandlers.DiagnosticInterrupt(in RegisterWrite write)
    {
        _diagVector = (int)((write.Written & AudioFields.DiagIrq.Vector) >> AudioFields.DiagIrq.VectorShift);
        _cardCauses.Raise(AudioFields.Intsts.Diag);
    }

    void IAudioRegisterHandlers.DiagnosticDmaControl(in RegisterWrite write) => _diagnostics.ControlWritten(write);

    /// <summary>INTCNT: interrupt events generated, wrapping at 32 bits (spec §5).</summary>
    ulong IAudioRegisterHandlers.InterruptCount(RegisterDefinition register, ulong stored) => (uint)_interrupts.Events;

    /// <summary>WALLCLK: the card's time in nanoseconds (spec §11).</summary>
    ulong IAudioRegisterHandlers.WallClock(RegisterDefinition register, ulong stored) => (ulong)Function.Clock.NowNanoseconds;

    /// <summary>INTSTS read: stored causes plus SIS, stream i's pending enabled causes at bit 16+i (spec §9.4).</summary>
    ulong IAudioRegisterHandlers.InterruptStatusRead(RegisterDefinition register, ulong stored)
    {
        ulong sis = 0;
        foreach (var s in _streams)
        {
            if (s.InterruptPending)
            {
                sis |= 1UL << (16 + s.Index);
            }
        }

        return (stored & ~AudioFields.Intsts.Sis) | sis;
    }

    private void OnFunctionReset(ResetKind kind)
    {
        // Function lock held. Config-space resets already cleared SRAM and interrupt state.
        StopStreams(kind);
        if (kind == ResetKind.ClientLost)
        {
            // Registers survive (the client may come back), but no transfer can complete without guest memory.
            _diagnostics.AbortWithTransportError();
            return;
        }

        _diagnostics.Reset(kind.ToString());
        _registers.Reset();
        _interrupts.ResetCount();
    }

    /// <summary>
    /// The driver changed the card's power state (function lock held). Entering D3hot with a stream running or the
    /// diagnostic engine busy is a driver bug (spec §7): the card masters no DMA there, so that work fails with POWER.
    /// </summary>
    private void OnPowerStateChanged(PowerState previous, PowerState now)
    {
        if (now != PowerState.D3Hot)
        {
            return;
        }

        foreach (var s in _streams.Where(s => s.IsStarted))
        {
            uint ctl = AudioSdBlock.Offset(s.Index, AudioSdRegister.Ctl);
            Checker.Report(AudioRules.RunningIntoD3Hot, new ViolationDetails
            {
                What = $"put the card into D3hot (from {previous}) while stream {s.Index} ({s.Layout.Name}) was running",
                Stream = s.Index,
                Register = Function.Checker.RegisterNames?.Invoke(0, ctl),
                RegisterOffset = ctl,
                Value = _registers.Get(ctl),
                Consequence = "the stream's next DMA is refused (ERRCODE POWER)",
            });
        }

        if (_diagnostics.IsBusy)
        {
            Checker.Report(AudioRules.RunningIntoD3Hot, new ViolationDetails
            {
                What = $"put the card into D3hot (from {previous}) while the diagnostic DMA engine was busy",
                Register = "DIAG_DMA_CTL",
                RegisterOffset = (uint)AudioRegister.DiagDmaCtl,
                Value = _registers.Get((uint)AudioRegister.DiagDmaCtl),
                Consequence = "the transfer's DMA is refused (ERRCODE POWER)",
            });
        }
    }

    private void StopStreams(ResetKind kind)
    {
        foreach (var s in _streams)
        {
            if (kind == ResetKind.ClientLost)
            {
                s.AbortLocked();
            }
            else
            {
                s.StopLocked(kind.ToString());
                s.ResetGains();
            }
        }
    }

    /// <summary>Stops the engines and the scheduler, closes every sink and source (WAV files are completed), then disposes the function.</summary>
    public void Dispose()
    {
        lock (Function.Sync)
        {
            _diagnostics.Reset("card disposed");
        }

        Function.Scheduler.Dispose();
        lock (Function.Sync)
        {
            foreach (var s in _streams)
            {
                s.StopLocked("card disposed");
            }
        }

        foreach (var s in _streams)
        {
            (s as PlaybackStream)?.Sink.Dispose();
            (s as CaptureStream)?.Source.Dispose();
        }

        Function.Dispose();
    }

    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "GCTL.RESET: registers and engines reset")]
    private static partial void LogCardReset(ILogger logger);
}
