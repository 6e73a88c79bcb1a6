using System.Buffers.Binary;
using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Pci.Tests;

/// <summary>An interrupt signal that counts how often it fired (the fake IRQ sink of style.md §4.2).</summary>
public sealed class FakeSignal : IInterruptSignal
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public bool Disposed { get; private set; }

    /// <summary>When true, Signal reports failure (the client's eventfd is gone).</summary>
    public bool Fail { get; set; }

    public bool Signal()
    {
        if (Fail)
        {
            return false;
        }

        Interlocked.Increment(ref _count);
        return true;
    }

    public void Dispose() => Disposed = true;
}

/// <summary>One handler call as the BAR handler saw it.</summary>
public readonly record struct MmioCall(bool IsWrite, ulong Offset, AccessSize Size, ulong Value);

/// <summary>
/// A BAR handler over a plain byte array that records every call and flags any access that is not naturally
/// aligned or not in the declared access-size set (the contract of <see cref="IMmioHandler"/>).
/// </summary>
public sealed class MemoryHandler(ulong size, AccessSizes allowed = AccessSizes.All) : IMmioHandler
{
    public byte[] Bytes { get; } = new byte[size];

    public List<MmioCall> Calls { get; } = [];

    public List<string> Violations { get; } = [];

    public ulong Read(ulong offset, AccessSize size)
    {
        Check(offset, size);
        ulong v = 0;
        for (int i = 0; i < (int)size; i++)
        {
            v |= (ulong)Bytes[offset + (ulong)i] << (8 * i);
        }

        Calls.Add(new MmioCall(false, offset, size, v));
        return v;
    }

    public void Write(ulong offset, AccessSize size, ulong value)
    {
        Check(offset, size);
        Calls.Add(new MmioCall(true, offset, size, value));
        for (int i = 0; i < (int)size; i++)
        {
            Bytes[offset + (ulong)i] = (byte)(value >> (8 * i));
        }
    }

    private void Check(ulong offset, AccessSize size)
    {
        if (!allowed.Contains(size))
        {
            Violations.Add($"size {size} not in {allowed} at 0x{offset:x}");
        }

        if (offset % (ulong)size != 0)
        {
            Violations.Add($"{size} access at 0x{offset:x} not naturally aligned");
        }

        if (offset + (ulong)size > (ulong)Bytes.Length)
        {
            Violations.Add($"{size} access at 0x{offset:x} beyond the BAR");
        }
    }
}

/// <summary>Guest-style config space accessors over the bus-side API (little-endian, any length).</summary>
public static class ConfigAccess
{
    public static uint CfgRead(this PciFunction f, int offset, int length)
    {
        Span<byte> b = stackalloc byte[4];
        f.ConfigRead(offset, b[..length]);
        uint v = 0;
        for (int i = 0; i < length; i++)
        {
            v |= (uint)b[i] << (8 * i);
        }

        return v;
    }

    public static byte Cfg8(this PciFunction f, int offset) => (byte)f.CfgRead(offset, 1);

    public static ushort Cfg16(this PciFunction f, int offset) => (ushort)f.CfgRead(offset, 2);

    public static uint Cfg32(this PciFunction f, int offset) => f.CfgRead(offset, 4);

    public static void CfgWrite(this PciFunction f, int offset, int length, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        f.ConfigWrite(offset, b[..length]);
    }

    public static void CfgWrite8(this PciFunction f, int offset, byte value) => f.CfgWrite(offset, 1, value);

    public static void CfgWrite16(this PciFunction f, int offset, ushort value) => f.CfgWrite(offset, 2, value);

    public static void CfgWrite32(this PciFunction f, int offset, uint value) => f.CfgWrite(offset, 4, value);

    public static void SetCommand(this PciFunction f, PciCommand command) => f.CfgWrite16(PciConfigRegisters.Command, (ushort)command);

    public static ulong BarRead64(this PciFunction f, int bar, ulong offset, int length)
    {
        Span<byte> b = stackalloc byte[8];
        f.BarRead(bar, offset, b[..length]);
        return BinaryPrimitives.ReadUInt64LittleEndian(b) & (length == 8 ? ulong.MaxValue : (1UL << (8 * length)) - 1);
    }

    public static void BarWrite64(this PciFunction f, int bar, ulong offset, int length, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        f.BarWrite(bar, offset, b[..length]);
    }
}

/// <summary>
/// Functions used across the tests. <see cref="Audio"/> follows the audio card spec
/// (firmware-models/pcieemu-audio/README.md §2, §3) without the shared-memory SRAM BAR unless asked for.
/// </summary>
public static class Functions
{
    // Offsets README §2 claims for the audio card's capability order.
    public const int Pm = 0x40;
    public const int Msi = 0x48;
    public const int Pcie = 0x60;
    public const int Msix = 0x9C;
    public const int Aer = 0x100;
    public const int Dsn = 0x148;

    public const ulong SerialNumber = 0x0011_2233_4455_6677;

    public static readonly PciIdentity AudioIdentity = new(0x1234, 0xAD10, 0x1234, 0x0010, 0x04_01_00, 0x01);

    public static PciFunction Audio(IMmioHandler? bar0 = null, bool noSoftReset = true, bool sram = false, bool flr = true)
    {
        var b = new PciFunctionBuilder("audio-test")
            .Identity(AudioIdentity)
            .ExtendedConfigSpace()
            .MemoryBar(0, "regs", 16 * 1024, bar0 ?? new MemoryHandler(16 * 1024), AccessSizes.All, is64Bit: true)
            .ReservedMemoryBar(2, "msix", 4096);
        if (sram)
        {
            b.SharedMemoryBar(4, "sram", 4096, is64Bit: true, prefetchable: true);
        }

        return b.Capability(new PowerManagementCapability(noSoftReset))
            .Capability(new MsiCapability(4, is64Bit: true, perVectorMask: true))
            .Capability(new PciExpressCapability(functionLevelReset: flr))
            .Capability(new MsixCapability(4, 2, 0, 2, 0x800))
            .Capability(new AerCapability())
            .Capability(new DeviceSerialNumberCapability(SerialNumber))
            .Build();
    }

    public static PciFunctionBuilder Minimal(string name = "minimal") =>
        new PciFunctionBuilder(name).Identity(new PciIdentity(0x1AF4, 0x1000, 0x1AF4, 0x0001, 0x02_00_00, 0x02));

    /// <summary>Wires a counting signal to vector <paramref name="vector"/> of <paramref name="index"/> (the controller owns it).</summary>
    public static FakeSignal Wire(this PciFunction f, IrqIndex index, int vector = 0)
    {
        var signal = new FakeSignal();
        f.Interrupts.AssignOwned(index, vector, signal);
        return signal;
    }

    /// <summary>Wires a counting signal to every vector of <paramref name="index"/>.</summary>
    public static FakeSignal[] WireAll(this PciFunction f, IrqIndex index)
    {
        int n = f.Interrupts.VectorCount(index);
        var signals = new FakeSignal[n];
        var span = new IInterruptSignal?[n];
        for (int i = 0; i < n; i++)
        {
            signals[i] = new FakeSignal();
            span[i] = signals[i];
        }

        f.Interrupts.Assign(index, 0, span);
        return signals;
    }

    /// <summary>Guest RAM for <see cref="HandOver.MapRam"/>: <paramref name="size"/> bytes of <paramref name="fill"/>.</summary>
    public static byte[] Ram(int size, byte fill = 0)
    {
        var bytes = new byte[size];
        Array.Fill(bytes, fill);
        return bytes;
    }
}
