using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Examples.Edu;
using PcieEmu.Pci;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Hosting;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Scheduling;
using PcieEmu.Pci.Tests;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Examples.Tests;

/// <summary>
/// The example device driven as its driver drives it (README.md §7), without QEMU: raw BAR0 offsets through the
/// function, guest memory in an array behind the translation table, a counting MSI-X signal, and a manual clock so
/// the scheduler runs only when a test says.
/// </summary>
internal sealed class EduBench : IDisposable
{
    public const ulong Iova = 0x10_0000;
    public const int MemoryBytes = 1 << 20;

    public EduBench(SchedulerMode scheduling = SchedulerMode.Manual)
    {
        Clock = new ManualDeviceClock();
        Device = new EduDevice(new PciDeviceContext(NullLoggerFactory.Instance, Clock, scheduling));
    }

    public ManualDeviceClock Clock { get; }

    public EduDevice Device { get; }

    public PciFunction F => Device.Function;

    public byte[] Memory { get; } = new byte[MemoryBytes];

    public CountingSignal Msix { get; } = new();

    /// <summary>Memory decode and bus mastering, guest memory mapped at <see cref="Iova"/>, MSI-X on with a signal.</summary>
    public EduBench Ready()
    {
        SetCommand(0x0006);
        F.DmaMappings.MapRam(Iova, MemoryBytes, DmaAccess.ReadWrite, Memory);
        F.Interrupts.Assign(IrqIndex.Msix, 0, [Msix]);
        int msix = F.Capability<MsixCapability>()!.Offset;
        Span<byte> control = stackalloc byte[2];
        F.ConfigRead(msix + 2, control);
        BinaryPrimitives.WriteUInt16LittleEndian(control, (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(control) | 0x8000));
        F.ConfigWrite(msix + 2, control);
        return this;
    }

    public void SetCommand(ushort command)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, command);
        F.ConfigWrite(4, b);
    }

    public uint Read32(EduRegister register)
    {
        Span<byte> b = stackalloc byte[4];
        F.BarRead(0, (ulong)register, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public ulong Read64(EduRegister register)
    {
        Span<byte> b = stackalloc byte[8];
        F.BarRead(0, (ulong)register, b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    public void Write32(EduRegister register, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        F.BarWrite(0, (ulong)register, b);
    }

    /// <summary>A 64-bit register as two dword writes, low first, the way the example driver writes it.</summary>
    public void Write64(EduRegister register, ulong value)
    {
        Write32(register, (uint)value);
        Write32(register + 4, (uint)(value >> 32));
    }

    /// <summary>Lets the device's scheduler run what the register writes posted.</summary>
    public void RunDevice() => F.Scheduler.AdvanceTo(Clock.NowNanoseconds + 1_000);

    public void StartCopy(ulong source, ulong destination, uint length)
    {
        Write64(EduRegister.DmaSource, source);
        Write64(EduRegister.DmaDestination, destination);
        Write32(EduRegister.DmaLength, length);
        Write32(EduRegister.DmaCommand, EduBits.DmaStart);
    }

    public void Dispose() => Device.Dispose();
}

/// <summary>The fake interrupt sink: counts messages.</summary>
internal sealed class CountingSignal : IInterruptSignal
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public bool Signal()
    {
        Interlocked.Increment(ref _count);
        return true;
    }

    public void Dispose()
    {
    }
}
