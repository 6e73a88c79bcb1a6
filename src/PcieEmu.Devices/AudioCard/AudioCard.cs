using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Common;
using PcieEmu.Devices.Models;
using PcieEmu.Pci;
using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Registers;
using PcieEmu.Pci.Tracing;

namespace PcieEmu.Devices.AudioCard;

/// <summary>
/// The synthetic PCIe audio/capture card (firmware-models/pcieemu-audio/README.md, spec 1.0): identity,
/// capabilities and BARs from the model file; BAR0 registers from registers.json; interrupts per spec §5;
/// the diagnostic DMA engine per spec §6. It knows nothing about vfio-user: a transport drives
/// <see cref="Function"/>.
/// </summary>
public sealed partial class AudioCard : IEmulatedCard
{
    private readonly ILogger _logger;
    private readonly RegisterBank _registers;
    private readonly DeviceWorker _worker;

    public AudioCard(CardModel model, ILoggerFactory loggerFactory, AudioCardOptions? options = null)
    {
        Model = model;
        _logger = loggerFactory.CreateLogger("PcieEmu.Devices.AudioCard");
        _registers = new RegisterBank("pcieemu-audio BAR0", model.RegistersBar.Size, loggerFactory.CreateLogger("PcieEmu.Devices.AudioCard.Registers"));
        _registers.DefineAll(AudioRegisterMap.Document.CreateDefinitions(WriteHandlers(), ReadHandlers(), ModelResetValue));
        CreateStreams(options ?? new AudioCardOptions(), loggerFactory);
        Function = BuildFunction(model, loggerFactory);
        Function.OnReset(OnFunctionReset);
        _worker = new DeviceWorker("pcieemu-audio-engine", _logger, () => Function.Trace, external: (options ?? new AudioCardOptions()).ExternalScheduling);
        _engine.Start();
    }

    /// <summary>
    /// The card's time: a trace unit's instant while one runs on this thread (so replay sees the same times),
    /// else the clock.
    /// </summary>
    private long Now => Function.Trace is { InUnit: true } t ? t.UnitTime : _clock.NowNanoseconds;

    public FunctionTrace AttachTrace(ITraceSink sink)
    {
        var trace = new FunctionTrace(sink, () => _clock.NowNanoseconds);
        Function.AttachTrace(trace);
        Violations.Recorded += v => trace.Note(new TraceRecord(TraceEventKind.Violation, text: v.Rule, detail: v.Detail));
        return trace;
    }

    public void RunEngineStep() => _engine.Step();

    public bool RunWorkerJob() => _worker.RunNext();

    public CardModel Model { get; }

    public PciFunction Function { get; }

    /// <summary>Driver-rule violations the card caught (spec §6.1).</summary>
    public DriverRuleViolations Violations { get; } = new();

    /// <summary>Interrupt events generated (what INTCNT counts, without its 32-bit wrap).</summary>
    public long InterruptEvents => Interlocked.Read(ref _interruptEvents);

    /// <summary>The card's SRAM (BAR per model), or null when the model has none.</summary>
    public SharedMemory? Sram => Model.SramBar is { } b ? Function.Bars[b.Index]?.Memory : null;

    private PciFunction BuildFunction(CardModel model, ILoggerFactory loggerFactory)
    {
        var id = model.Identity;
        var b = new PciFunctionBuilder(model.Name)
            .Identity(new PciIdentity(id.VendorId, id.DeviceId, id.SubsystemVendorId, id.SubsystemId, id.ClassCode, id.Revision))
            .ExtendedConfigSpace()
            .Logging(loggerFactory)
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

    private ulong ModelResetValue(string register) => register switch
    {
        "CAPS" => (uint)Model.PlaybackStreams | ((uint)Model.CaptureStreams << 8) | ((uint)Model.MsixVectors << 16),
        "DMACAPS" => (uint)Model.Dma.AddressBits | ((uint)Model.Dma.AlignmentLog2 << 8) | ((uint)Model.Dma.BoundaryBits << 16),
        "MAXSEG" => Model.Dma.MaxSegmentBytes,
        _ => throw new RegisterMapException($"register {register} takes its reset value from the model, but the card has no rule for it"),
    };

    /// <summary>Reads a BAR0 register as the bus would (read handlers included), for tests and host-side assertions.</summary>
    public ulong PeekRegister(AudioRegister register)
    {
        lock (Function.Sync)
        {
            var definition = _registers.Find((uint)register) ?? throw new ArgumentOutOfRangeException(nameof(register));
            return _registers.Read((uint)register, definition.Width == 8 ? AccessSize.Qword : AccessSize.Dword);
        }
    }

    private void OnFunctionReset(ResetKind kind)
    {
        // Function lock held. Config-space resets already cleared SRAM and interrupt state.
        StopStreams(kind);
        if (kind == ResetKind.ClientLost)
        {
            // Registers survive (the client may come back), but no transfer can complete without guest memory.
            AbortEnginesWithTransportError();
            return;
        }

        ResetEngines(kind.ToString());
        _registers.Reset();
        _interruptEvents = 0;
    }

    public void Dispose()
    {
        lock (Function.Sync)
        {
            _diagGeneration++;
        }

        _worker.Dispose();
        _engine.Dispose();
        lock (Function.Sync)
        {
            foreach (var s in _streams)
            {
                s.StopLocked("card disposed");
            }
        }

        foreach (var s in _streams)
        {
            s.Sink?.Dispose();
            s.Source?.Dispose();
        }

        Function.Dispose();
    }
}
