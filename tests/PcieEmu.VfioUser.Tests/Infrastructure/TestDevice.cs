using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Pci;
using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Registers;

namespace PcieEmu.VfioUser.Tests.Infrastructure;

/// <summary>
/// The function every protocol test serves: a 64-bit register BAR0 backed by a RegisterBank, MSI-X (4 vectors,
/// table and PBA in BAR2), MSI, PM, PCIe, AER, DSN, a 64-bit shared-memory BAR4 with two sparse mmap areas, and
/// a 4 KiB configuration space.
/// </summary>
internal sealed class TestDevice : IDisposable
{
    public const int RegsBar = 0;
    public const ulong RegsSize = 0x1000;
    public const uint IdRegister = 0x0;
    public const uint IdValue = 0x1234_5678;
    public const uint ScratchRegister = 0x4;
    public const uint Scratch64Register = 0x8;

    public const int MsixBar = 2;
    public const ulong MsixBarSize = 0x1000;
    public const int MsixVectors = 4;
    public const uint MsixTableOffset = 0x0;
    public const uint MsixPbaOffset = 0x800;

    public const int ShmBar = 4;
    public const ulong ShmSize = 0x4000;

    public const int MsiVectors = 4;
    public const ulong SerialNumber = 0x0123_4567_89AB_CDEF;

    public TestDevice(ILoggerFactory? loggerFactory = null)
    {
        var logs = loggerFactory ?? NullLoggerFactory.Instance;
        Bank = new RegisterBank("regs", RegsSize, NullLogger.Instance);
        Bank.Define(RegisterDefinition.ReadOnly("ID", IdRegister, IdValue));
        Bank.Define(RegisterDefinition.ReadWrite("SCRATCH", ScratchRegister));
        Bank.Define(RegisterDefinition.ReadWrite("SCRATCH64", Scratch64Register, width: 8));

        Function = new PciFunctionBuilder("testdev")
            .Identity(new PciIdentity(0x1b36, 0x00ee, 0x1af4, 0x1100, 0x040300, 1))
            .ExtendedConfigSpace()
            .Logging(logs)
            .MemoryBar(RegsBar, "regs", RegsSize, Bank, AccessSizes.All, is64Bit: true)
            .ReservedMemoryBar(MsixBar, "msix", MsixBarSize)
            .SharedMemoryBar(ShmBar, "shm", ShmSize, is64Bit: true, mmapAreas: [new MmapArea(0, 0x1000), new MmapArea(0x2000, 0x1000)])
            .Capability(new PowerManagementCapability())
            .Capability(new MsiCapability(MsiVectors))
            .Capability(new MsixCapability(MsixVectors, MsixBar, MsixTableOffset, MsixBar, MsixPbaOffset))
            .Capability(new PciExpressCapability())
            .Capability(new AerCapability())
            .Capability(new DeviceSerialNumberCapability(SerialNumber))
            .Build();
        Function.OnReset(kind =>
        {
            lock (Resets)
            {
                Resets.Add(kind);
                MappingsAtReset.Add(Function.DmaMappings.Count);
            }

            if (kind != ResetKind.ClientLost)
            {
                Bank.Reset();
            }
        });
    }

    public PciFunction Function { get; }

    public RegisterBank Bank { get; }

    /// <summary>Every reset the function went through, in order.</summary>
    public List<ResetKind> Resets { get; } = [];

    /// <summary>How many DMA mappings the function held when each reset in <see cref="Resets"/> reached the device.</summary>
    public List<int> MappingsAtReset { get; } = [];

    public int MsixCapOffset => Function.Capability<MsixCapability>()!.Offset;

    public int MsiCapOffset => Function.Capability<MsiCapability>()!.Offset;

    public ResetKind[] ResetsSoFar()
    {
        lock (Resets)
        {
            return [.. Resets];
        }
    }

    public void Dispose() => Function.Dispose();
}
