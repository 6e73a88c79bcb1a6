using System.Buffers.Binary;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Devices.Models;
using PcieEmu.Pci;
using PcieEmu.Pci.Checking;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Tests;
using AudioCardDevice = PcieEmu.Devices.AudioCard.AudioCard;

namespace PcieEmu.Devices.Tests;

/// <summary>Where the repository and its model files are, found the way the tools find them.</summary>
internal static class Repo
{
    private static readonly Lazy<string> RootPath = new(() =>
        Repository.FindRootFrom(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException($"no PcieEmu.sln above {AppContext.BaseDirectory}"));

    public static string Root => RootPath.Value;

    public static string ModelsDir => Path.Combine(Root, "firmware-models");

    public static string AudioDir => Path.Combine(ModelsDir, "pcieemu-audio");

    public static string DefaultModelPath => Path.Combine(AudioDir, "default.json");

    public static string SchemaPath => Path.Combine(ModelsDir, "schema", "card-model.schema.json");

    public static string SpecPath => Path.Combine(AudioDir, "README.md");

    public static string RegistersJsonPath => Path.Combine(AudioDir, "registers.json");

    private static readonly Lazy<AudioCardModel> DefaultModelValue = new(() => CardModelLoader.LoadAudio(DefaultModelPath));

    public static AudioCardModel DefaultModel => DefaultModelValue.Value;

    /// <summary>default.json as a mutable tree, for building variants.</summary>
    public static JsonObject DefaultModelJson() => JsonNode.Parse(File.ReadAllText(DefaultModelPath))!.AsObject();
}

/// <summary>A scratch directory removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pcieemu-devices-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Write(string name, string content)
    {
        string full = System.IO.Path.Combine(Path, name);
        File.WriteAllText(full, content);
        return full;
    }

    public string Write(string name, JsonNode json) => Write(name, json.ToJsonString());

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Spec-derived reference computations, written independently of the card's helpers.</summary>
internal static class Reference
{
    /// <summary>32-bit FNV-1a as spec §6.2 defines it: offset basis 0x811C9DC5, prime 0x01000193, XOR then multiply.</summary>
    public static uint Fnv1a(ReadOnlySpan<byte> data)
    {
        uint h = 0x811C9DC5;
        for (int i = 0; i < data.Length; i++)
        {
            h ^= data[i];
            h = unchecked(h * 0x01000193);
        }

        return h;
    }

    /// <summary>Spec §6.2 write pattern: byte i is byte (i mod 4), little-endian, of SEED ^ ((i div 4) × 0x9E3779B9).</summary>
    public static byte[] DiagPattern(uint seed, int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            uint k = (uint)(i / 4);
            uint word = seed ^ unchecked(k * 0x9E3779B9u);
            bytes[i] = (byte)(word >> (8 * (i % 4)));
        }

        return bytes;
    }

    /// <summary>Deterministic, non-trivial buffer contents.</summary>
    public static byte[] Noise(int length, int seed)
    {
        var r = new Random(seed);
        var b = new byte[length];
        r.NextBytes(b);
        return b;
    }
}

/// <summary>Bounded waits: poll a condition, never sleep-and-hope.</summary>
internal static class Poll
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public static bool Until(Func<bool> condition, TimeSpan? timeout = null)
    {
        long deadline = Environment.TickCount64 + (long)(timeout ?? Timeout).TotalMilliseconds;
        var spin = default(SpinWait);
        while (!condition())
        {
            if (Environment.TickCount64 > deadline)
            {
                return condition();
            }

            spin.SpinOnce(sleep1Threshold: 10);
        }

        return true;
    }
}

/// <summary>The fake IRQ sink of style.md §4.2: counts signals.</summary>
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

/// <summary>
/// Guest memory that can hold the card's DMA inside the backing until the test releases it
/// (a slow host), and records which thread did each access.
/// </summary>
internal sealed class BlockingBacking(byte[] memory, bool blockReads, bool blockWrites) : IDmaBacking
{
    private readonly ManualResetEventSlim _release = new(false);
    private int _reads;
    private int _writes;
    private int _completed;

    public byte[] Memory { get; } = memory;

    public ManualResetEventSlim Entered { get; } = new(false);

    public int? AccessThreadId { get; private set; }

    public int Reads => Volatile.Read(ref _reads);

    public int Writes => Volatile.Read(ref _writes);

    /// <summary>Accesses that returned to the card.</summary>
    public int Completed => Volatile.Read(ref _completed);

    public string Kind => "blocking-test";

    public void Release() => _release.Set();

    public DmaResult Read(ulong offset, Span<byte> destination)
    {
        Interlocked.Increment(ref _reads);
        Hold(blockReads);
        Memory.AsSpan((int)offset, destination.Length).CopyTo(destination);
        Interlocked.Increment(ref _completed);
        return DmaResult.Ok;
    }

    public DmaResult Write(ulong offset, ReadOnlySpan<byte> source)
    {
        Interlocked.Increment(ref _writes);
        Hold(blockWrites);
        source.CopyTo(Memory.AsSpan((int)offset, source.Length));
        Interlocked.Increment(ref _completed);
        return DmaResult.Ok;
    }

    private void Hold(bool block)
    {
        AccessThreadId = Environment.CurrentManagedThreadId;
        Entered.Set();
        if (block)
        {
            // Bounded so a broken card cannot hang the suite; the tests release long before this.
            _release.Wait(TimeSpan.FromSeconds(5));
        }
    }

    /// <summary>
    /// The controller disposes a backing only after draining the transfers inside it, and the harness releases
    /// every blocking backing before that, so no thread still waits on these events.
    /// </summary>
    public void Dispose()
    {
        _release.Dispose();
        Entered.Dispose();
    }
}

/// <summary>Captures log entries (to check that evidence reaches the log).</summary>
internal sealed class CapturingLogger : ILogger
{
    private readonly List<(LogLevel Level, Exception? Exception, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, Exception? Exception, string Message)> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries)
        {
            _entries.Add((logLevel, exception, formatter(state, exception)));
        }
    }
}

/// <summary>
/// Offsets a driver would use, from the spec (README §2, §4) and the PCI/PCIe specifications.
/// Deliberately not taken from the generated enum, so the tests check the card against the spec.
/// </summary>
internal static class Spec
{
    // README §4 (BAR0)
    public const ulong ID = 0x000;
    public const ulong VERSION = 0x004;
    public const ulong CAPS = 0x008;
    public const ulong DMACAPS = 0x00C;
    public const ulong MAXSEG = 0x010;
    public const ulong GCTL = 0x020;
    public const ulong INTSTS = 0x024;
    public const ulong INTEN = 0x028;
    public const ulong INTCNT = 0x02C;
    public const ulong SCRATCH = 0x030;
    public const ulong SCRATCH64 = 0x038;
    public const ulong DIAG_IRQ = 0x040;
    public const ulong DIAG_DMA_ADDR = 0x048;
    public const ulong DIAG_DMA_LEN = 0x050;
    public const ulong DIAG_DMA_SEED = 0x054;
    public const ulong DIAG_DMA_CTL = 0x058;
    public const ulong DIAG_DMA_STS = 0x05C;
    public const ulong DIAG_DMA_RESULT = 0x060;

    public const uint IntDiag = 1u << 0;
    public const uint IntDmaDone = 1u << 1;
    public const uint IntDmaErr = 1u << 2;

    public const uint CtlStart = 1u << 0;
    public const uint CtlDirWrite = 1u << 1;

    public const uint StsBusy = 1u << 0;
    public const uint StsDone = 1u << 1;
    public const uint StsErr = 1u << 2;

    public static uint StsError(int errcode) => StsErr | ((uint)errcode << 8);

    // README §6.3
    public const int ErrUnmapped = 1;
    public const int ErrDenied = 2;
    public const int ErrBusMaster = 3;
    public const int ErrOwnBar = 4;
    public const int ErrAddrBits = 5;
    public const int ErrAlign = 6;
    public const int ErrLength = 7;
    public const int ErrTransport = 8;

    // PCI type-0 header
    public const int CfgVendor = 0x00;
    public const int CfgDevice = 0x02;
    public const int CfgCommand = 0x04;
    public const int CfgStatus = 0x06;
    public const int CfgRevision = 0x08;
    public const int CfgClass = 0x09;
    public const int CfgHeaderType = 0x0E;
    public const int CfgBar0 = 0x10;
    public const int CfgSubVendor = 0x2C;
    public const int CfgSubsystem = 0x2E;
    public const int CfgRom = 0x30;
    public const int CfgCapPtr = 0x34;
    public const int CfgIntPin = 0x3D;

    public const ushort CmdMemory = 1 << 1;
    public const ushort CmdBusMaster = 1 << 2;
    public const ushort CmdIntxDisable = 1 << 10;
    public const ushort StsInterrupt = 1 << 3;
    public const ushort StsCapList = 1 << 4;

    // README §2 capability offsets
    public const int PmCap = 0x40;
    public const int MsiCap = 0x48;
    public const int PcieCap = 0x60;
    public const int MsixCap = 0x9C;
    public const int AerCap = 0x100;
    public const int DsnCap = 0x148;

    public const int Pmcsr = PmCap + 4;
    public const int MsiControl = MsiCap + 2;
    public const int MsiMask = MsiCap + 0x10; // 64-bit layout
    public const int PcieDevCtl = PcieCap + 8;
    public const int MsixControl = MsixCap + 2;
}

/// <summary>
/// An audio card driven like a driver drives it: config and BAR accesses with raw offsets and little-endian
/// buffers through <see cref="PciFunction"/>, plus the fakes the host side plugs in.
/// </summary>
internal sealed class CardHarness : IDisposable
{
    private readonly List<BlockingBacking> _blocking = [];

    public CardHarness(AudioCardModel? model = null, PcieEmu.Devices.AudioCard.AudioCardOptions? options = null)
    {
        // A test harness reads back what streams transferred: keep samples unless a test says otherwise.
        Card = new AudioCardDevice(model ?? Repo.DefaultModel, NullLoggerFactory.Instance, options ?? new PcieEmu.Devices.AudioCard.AudioCardOptions { KeepSampleBytes = KeepSampleBytes });
    }

    public const long KeepSampleBytes = 64L << 20;

    public AudioCardDevice Card { get; }

    public PciFunction F => Card.Function;

    // ---- configuration space

    public byte Cfg8(int offset)
    {
        Span<byte> b = stackalloc byte[1];
        F.ConfigRead(offset, b);
        return b[0];
    }

    public ushort Cfg16(int offset)
    {
        Span<byte> b = stackalloc byte[2];
        F.ConfigRead(offset, b);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    public uint Cfg32(int offset)
    {
        Span<byte> b = stackalloc byte[4];
        F.ConfigRead(offset, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public void WriteCfg16(int offset, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        F.ConfigWrite(offset, b);
    }

    public void WriteCfg32(int offset, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        F.ConfigWrite(offset, b);
    }

    public void SetCommand(ushort command) => WriteCfg16(Spec.CfgCommand, command);

    public void EnableMemoryAndBusMaster() => SetCommand(Spec.CmdMemory | Spec.CmdBusMaster);

    /// <summary>Memory + bus master, MSI-X enabled (Message Control bit 15), a counting signal per vector.</summary>
    public CountingSignal[] EnableMsix()
    {
        EnableMemoryAndBusMaster();
        int n = (Cfg16(Spec.MsixControl) & 0x7FF) + 1;
        var signals = new CountingSignal[n];
        for (int i = 0; i < n; i++)
        {
            signals[i] = new CountingSignal();
        }

        F.Interrupts.Assign(IrqIndex.Msix, 0, signals);
        WriteCfg16(Spec.MsixControl, (ushort)(Cfg16(Spec.MsixControl) | 0x8000));
        return signals;
    }

    /// <summary>MSI enabled with Multiple Message Enable = 2^<paramref name="mmeLog2"/>; signals for every capable vector.</summary>
    public CountingSignal[] EnableMsi(int mmeLog2)
    {
        EnableMemoryAndBusMaster();
        ushort control = Cfg16(Spec.MsiControl);
        int capable = 1 << ((control >> 1) & 7);
        var signals = new CountingSignal[capable];
        for (int i = 0; i < capable; i++)
        {
            signals[i] = new CountingSignal();
        }

        F.Interrupts.Assign(IrqIndex.Msi, 0, signals);
        WriteCfg32(Spec.MsiCap + 4, 0xFEE0_0000);
        WriteCfg16(Spec.MsiCap + 0xC, 0x0041);
        WriteCfg16(Spec.MsiControl, (ushort)((control & ~0x70) | (mmeLog2 << 4) | 1));
        return signals;
    }

    /// <summary>INTx: memory + bus master, no MSI/MSI-X, a counting signal on INTA#.</summary>
    public CountingSignal EnableIntx()
    {
        EnableMemoryAndBusMaster();
        var s = new CountingSignal();
        F.Interrupts.AssignOwned(IrqIndex.Intx, 0, s);
        return s;
    }

    // ---- BARs

    public byte[] BarBytes(int bar, ulong offset, int length)
    {
        var b = new byte[length];
        F.BarRead(bar, offset, b);
        return b;
    }

    public byte Read8(ulong offset, int bar = 0) => BarBytes(bar, offset, 1)[0];

    public ushort Read16(ulong offset, int bar = 0) => BinaryPrimitives.ReadUInt16LittleEndian(BarBytes(bar, offset, 2));

    public uint Read32(ulong offset, int bar = 0) => BinaryPrimitives.ReadUInt32LittleEndian(BarBytes(bar, offset, 4));

    public ulong Read64(ulong offset, int bar = 0) => BinaryPrimitives.ReadUInt64LittleEndian(BarBytes(bar, offset, 8));

    public void Write8(ulong offset, byte value, int bar = 0) => F.BarWrite(bar, offset, [value]);

    public void Write16(ulong offset, ushort value, int bar = 0)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        F.BarWrite(bar, offset, b);
    }

    public void Write32(ulong offset, uint value, int bar = 0)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        F.BarWrite(bar, offset, b);
    }

    public void Write64(ulong offset, ulong value, int bar = 0)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        F.BarWrite(bar, offset, b);
    }

    // ---- DMA

    public byte[] MapArray(ulong iova, int size, DmaAccess access = DmaAccess.ReadWrite, byte fill = 0)
    {
        var memory = new byte[size];
        memory.AsSpan().Fill(fill);
        F.DmaMappings.MapRam(iova, (ulong)size, access, memory).Should().Be(0, "the test mapping must be accepted");
        return memory;
    }

    /// <summary>
    /// Maps the first <paramref name="size"/> bytes of <paramref name="file"/> read-write, through an mmap of its own as
    /// the server makes for a DMA_MAP with an fd (the controller owns the mapping; the caller keeps the file).
    /// </summary>
    public void MapFile(ulong iova, Microsoft.Win32.SafeHandles.SafeFileHandle file, int size, bool faultChecked) =>
        F.DmaMappings.MapOwned(iova, (ulong)size, DmaAccess.ReadWrite, new MappedDmaBacking(PcieEmu.Interop.MemoryMapping.Map(file, 0, (ulong)size, writable: true, faultChecked))).Should().Be(0);

    public BlockingBacking MapBlocking(ulong iova, int size, bool blockReads = true, bool blockWrites = true)
    {
        var backing = new BlockingBacking(new byte[size], blockReads, blockWrites);
        _blocking.Add(backing);
        F.DmaMappings.Map(iova, (ulong)size, DmaAccess.ReadWrite, backing).Should().Be(0);
        return backing;
    }

    /// <summary>Spec §6.2 programming sequence: ADDR, LEN, SEED, then CTL with START and DIR.</summary>
    public void StartDiag(ulong address, uint length, bool write, uint seed = 0)
    {
        Write64(Spec.DIAG_DMA_ADDR, address);
        Write32(Spec.DIAG_DMA_LEN, length);
        Write32(Spec.DIAG_DMA_SEED, seed);
        Write32(Spec.DIAG_DMA_CTL, Spec.CtlStart | (write ? Spec.CtlDirWrite : 0));
    }

    /// <summary>Waits (bounded) until DIAG_DMA_STS.BUSY clears and returns DIAG_DMA_STS.</summary>
    public uint WaitDiagIdle()
    {
        uint sts = 0;
        bool idle = Poll.Until(() => ((sts = Read32(Spec.DIAG_DMA_STS)) & Spec.StsBusy) == 0);
        idle.Should().BeTrue($"the diagnostic DMA should finish within {Poll.Timeout.TotalSeconds} s (DIAG_DMA_STS=0x{sts:x})");
        return sts;
    }

    public uint RunDiag(ulong address, uint length, bool write, uint seed = 0)
    {
        StartDiag(address, length, write, seed);
        return WaitDiagIdle();
    }

    public IReadOnlyList<string> ViolationRules() => [.. Card.Checker.Snapshot().Where(v => v.IsViolation).Select(v => v.RuleName)];

    public IReadOnlyList<RuleViolation> Violations() => [.. Card.Checker.Snapshot().Where(v => v.IsViolation)];

    public void Dispose()
    {
        foreach (var b in _blocking)
        {
            b.Release();
        }

        Card.Dispose();
    }
}
