using Microsoft.Extensions.Logging;
using PcieEmu.Pci;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Hosting;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Examples.Edu;

/// <summary>
/// An example device in the spirit of QEMU's edu (README.md beside this file is its spec): an ID register, an
/// inverter, a factorial computed on the device's scheduler, a DMA engine copying between two guest buffers through
/// the translation table, and a completion interrupt on MSI-X vector 0. Everything it does goes through its
/// <see cref="PciFunction"/>: a host serves, boots, records and replays it without knowing it.
/// </summary>
public sealed partial class EduDevice : IPciDevice
{
    /// <summary>The device type hosts create it from (serve, boot, replay); its name is what traces record.</summary>
    public static readonly PciDeviceType Type = new("edu-example", context => new EduDevice(context));

    public const ushort VendorId = 0x1234;
    public const ushort DeviceId = 0xED01;
    public const ulong RegistersSize = 0x1000;
    public const ulong MsixBarSize = 0x1000;

    private const int CopyChunk = 4096;

    private readonly RegisterBank _registers;
    private readonly ILogger _logger;
    private readonly byte[] _bounce = new byte[CopyChunk];
    private long _factorials;
    private long _copies;
    private long _bytesCopied;
    private long _dmaErrors;
    private long _interrupts;
    private int _generation; // bumped by every reset: work armed before it reports nothing after it

    public EduDevice(PciDeviceContext context)
    {
        _logger = context.Loggers.CreateLogger("PcieEmu.Examples.Edu");
        _registers = new RegisterBank("edu-registers", RegistersSize, context.Loggers.CreateLogger("PcieEmu.Examples.Edu.Registers"));
        DefineRegisters();
        Function = new PciFunctionBuilder("edu-example")
            .Identity(new PciIdentity(VendorId, DeviceId, VendorId, DeviceId, ClassCode: 0x00FF00, Revision: 1))
            .ExtendedConfigSpace()
            .Logging(context.Loggers)
            .Timing(context.Clock, context.Scheduling)
            .MemoryBar(0, "registers", RegistersSize, _registers, AccessSizes.All)
            .ReservedMemoryBar(2, "msix", MsixBarSize)
            .Capability(new PciExpressCapability(functionLevelReset: true))
            .Capability(new MsixCapability(1, tableBar: 2, tableOffset: 0, pbaBar: 2, pbaOffset: (uint)(MsixBarSize / 2)))
            .Build();
        Function.OnReset(_ => ResetRegisters());
        Function.Scheduler.Start();
    }

    public PciFunction Function { get; }

    /// <summary>Factorials completed (host-side counter, not reset by a device reset).</summary>
    public long Factorials => Interlocked.Read(ref _factorials);

    /// <summary>Copies that completed without error.</summary>
    public long Copies => Interlocked.Read(ref _copies);

    /// <summary>Bytes moved by good copies.</summary>
    public long BytesCopied => Interlocked.Read(ref _bytesCopied);

    /// <summary>Copies that stopped with DMA_ERROR set.</summary>
    public long DmaErrors => Interlocked.Read(ref _dmaErrors);

    /// <summary>Interrupt messages the device asked for (delivered or left pending by masking).</summary>
    public long InterruptsRaised => Interlocked.Read(ref _interrupts);

    /// <summary>Reads a register as the bus would (read handlers included), for tests and host-side checks.</summary>
    public ulong Peek(EduRegister register)
    {
        lock (Function.Sync)
        {
            var definition = _registers.Find((uint)register) ?? throw new ArgumentOutOfRangeException(nameof(register));
            return _registers.Read((uint)register, definition.Width == 8 ? AccessSize.Qword : AccessSize.Dword);
        }
    }

    public void Dispose() => Function.Dispose();

    // ------------------------------------------------------------------ registers (README.md §3)

    private void DefineRegisters()
    {
        _registers.DefineAll(
        [
            RegisterDefinition.ReadOnly("ID", (uint)EduRegister.Id, EduBits.IdValue),
            RegisterDefinition.ReadWrite("INVERT", (uint)EduRegister.Invert) with { OnRead = (_, stored) => ~stored & 0xFFFF_FFFF },
            new("FACT_N", (uint)EduRegister.FactorialInput, 4, 0, EduBits.MaxFactorialInput, EduBits.MaxFactorialInput, 0, EduBits.MaxFactorialInput,
                OnWrite: OnFactorialWrite),
            RegisterDefinition.ReadOnly("FACT_RESULT", (uint)EduRegister.FactorialResult, 0, width: 8),
            new("STATUS", (uint)EduRegister.Status, 4, 0, EduBits.FactorialBusy | EduBits.DmaBusy, 0, 0, EduBits.FactorialBusy | EduBits.DmaBusy),
            new("INT_STATUS", (uint)EduRegister.InterruptStatus, 4, 0, EduBits.AllCauses, 0, EduBits.AllCauses, EduBits.AllCauses,
                OnWrite: (in RegisterWrite _) => UpdateInterrupt(0)),
            new("INT_ENABLE", (uint)EduRegister.InterruptEnable, 4, 0, EduBits.AllCauses, EduBits.AllCauses, 0, EduBits.AllCauses,
                OnWrite: (in RegisterWrite w) => UpdateInterrupt((uint)(w.NewValue & ~w.OldValue))),
            RegisterDefinition.ReadWrite("DMA_SRC", (uint)EduRegister.DmaSource, width: 8),
            RegisterDefinition.ReadWrite("DMA_DST", (uint)EduRegister.DmaDestination, width: 8),
            new("DMA_LEN", (uint)EduRegister.DmaLength, 4, 0, 0x1F_FFFF, 0x1F_FFFF, 0, 0x1F_FFFF),
            new("DMA_CMD", (uint)EduRegister.DmaCommand, 4, 0, EduBits.DmaStart, EduBits.DmaStart, 0, ReadMask: 0, OnWrite: OnDmaCommandWrite),
            RegisterDefinition.ReadOnly("DMA_ERROR", (uint)EduRegister.DmaError, 0),
            RegisterDefinition.ReadOnly("FACT_COUNT", (uint)EduRegister.FactorialCount, 0),
            RegisterDefinition.ReadOnly("DMA_BYTES", (uint)EduRegister.DmaBytes, 0),
        ]);
    }

    private void ResetRegisters()
    {
        lock (Function.Sync)
        {
            _registers.Reset();
            _generation++;
        }
    }

    // ------------------------------------------------------------------ side effects (function lock held, O(1))

    /// <summary>FACT_N: start N! on the scheduler (README.md §4); a write while busy is ignored.</summary>
    private void OnFactorialWrite(in RegisterWrite write)
    {
        if ((_registers.Get((uint)EduRegister.Status) & EduBits.FactorialBusy) != 0)
        {
            _registers.Set((uint)EduRegister.FactorialInput, write.OldValue);
            LogBusyWrite(_logger, "FACT_N");
            return;
        }

        uint n = (uint)write.NewValue;
        _registers.SetBits((uint)EduRegister.Status, EduBits.FactorialBusy);
        int generation = _generation;
        Function.Scheduler.Post(() => ComputeFactorial(n, generation));
    }

    /// <summary>DMA_CMD.START: arm a copy on the scheduler (README.md §5); ignored while a copy runs.</summary>
    private void OnDmaCommandWrite(in RegisterWrite write)
    {
        _registers.Set((uint)EduRegister.DmaCommand, 0); // START is self-clearing
        if ((write.OnesWritten & EduBits.DmaStart) == 0)
        {
            return;
        }

        if ((_registers.Get((uint)EduRegister.Status) & EduBits.DmaBusy) != 0)
        {
            LogBusyWrite(_logger, "DMA_CMD");
            return;
        }

        var copy = new Copy(
            _registers.Get((uint)EduRegister.DmaSource),
            _registers.Get((uint)EduRegister.DmaDestination),
            (uint)_registers.Get((uint)EduRegister.DmaLength));
        _registers.SetBits((uint)EduRegister.Status, EduBits.DmaBusy);
        int generation = _generation;
        Function.Scheduler.Post(() => RunCopy(copy, generation));
    }

    /// <summary>
    /// The one interrupt recompute (README.md §6): INTx follows INT_STATUS &amp; INT_ENABLE; MSI-X vector 0 gets a
    /// message for each cause that becomes pending-and-enabled (<paramref name="risen"/>).
    /// </summary>
    private void UpdateInterrupt(uint risen)
    {
        uint status = (uint)_registers.Get((uint)EduRegister.InterruptStatus);
        uint enable = (uint)_registers.Get((uint)EduRegister.InterruptEnable);
        Function.Interrupts.SetIntxLevel((status & enable) != 0);
        if ((risen & status & enable) != 0)
        {
            Interlocked.Increment(ref _interrupts);
            Function.Interrupts.Raise(0);
        }
    }

    private void Complete(uint busyBit, uint cause)
    {
        _registers.ClearBits((uint)EduRegister.Status, busyBit);
        _registers.SetBits((uint)EduRegister.InterruptStatus, cause);
        UpdateInterrupt(cause);
    }

    // ------------------------------------------------------------------ engines (scheduler thread)

    private void ComputeFactorial(uint n, int generation)
    {
        ulong result = 1;
        for (uint i = 2; i <= n; i++)
        {
            result = unchecked(result * i);
        }

        lock (Function.Sync)
        {
            if (generation != _generation)
            {
                return;
            }

            _registers.Set((uint)EduRegister.FactorialResult, result);
            _registers.Set((uint)EduRegister.FactorialCount, (_registers.Get((uint)EduRegister.FactorialCount) + 1) & 0xFFFF_FFFF);
            Interlocked.Increment(ref _factorials);
            Complete(EduBits.FactorialBusy, EduBits.FactorialDone);
        }
    }

    private readonly record struct Copy(ulong Source, ulong Destination, uint Length);

    /// <summary>Copies in 4 KiB chunks through the translation table; the first failed chunk stops the copy.</summary>
    private void RunCopy(Copy copy, int generation)
    {
        var error = Transfer(copy);
        lock (Function.Sync)
        {
            if (generation != _generation)
            {
                return;
            }

            _registers.Set((uint)EduRegister.DmaError, (uint)error);
            if (error == EduDmaError.None)
            {
                _registers.Set((uint)EduRegister.DmaBytes, (_registers.Get((uint)EduRegister.DmaBytes) + copy.Length) & 0xFFFF_FFFF);
                Interlocked.Increment(ref _copies);
                Interlocked.Add(ref _bytesCopied, copy.Length);
                Complete(EduBits.DmaBusy, EduBits.DmaDone);
            }
            else
            {
                Interlocked.Increment(ref _dmaErrors);
                LogCopyFailed(_logger, copy.Source, copy.Destination, copy.Length, error);
                Complete(EduBits.DmaBusy, EduBits.DmaFailed);
            }
        }
    }

    private EduDmaError Transfer(Copy copy)
    {
        if (copy.Length == 0 || copy.Length > EduBits.MaxDmaLength)
        {
            return EduDmaError.BadLength;
        }

        if (copy.Source > ulong.MaxValue - copy.Length || copy.Destination > ulong.MaxValue - copy.Length)
        {
            return EduDmaError.AddressOverflow;
        }

        for (uint done = 0; done < copy.Length; done += CopyChunk)
        {
            var chunk = _bounce.AsSpan(0, (int)Math.Min(CopyChunk, copy.Length - done));
            var result = Function.Dma.Read(copy.Source + done, chunk);
            if (result == DmaResult.Ok)
            {
                result = Function.Dma.Write(copy.Destination + done, chunk);
            }

            if (result != DmaResult.Ok)
            {
                return result switch
                {
                    DmaResult.Unmapped => EduDmaError.Unmapped,
                    DmaResult.AccessDenied => EduDmaError.AccessDenied,
                    DmaResult.BusMasterDisabled => EduDmaError.BusMasterDisabled,
                    DmaResult.OwnBar => EduDmaError.OwnBar,
                    DmaResult.InvalidRange => EduDmaError.AddressOverflow,
                    _ => EduDmaError.Transport,
                };
            }
        }

        return EduDmaError.None;
    }

    [LoggerMessage(EventId = 9000, Level = LogLevel.Warning, Message = "{Register} written while busy: ignored")]
    private static partial void LogBusyWrite(ILogger logger, string register);

    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning, Message = "DMA copy 0x{Source:x} -> 0x{Destination:x} ({Length} B) failed: {Error}")]
    private static partial void LogCopyFailed(ILogger logger, ulong source, ulong destination, uint length, EduDmaError error);
}
