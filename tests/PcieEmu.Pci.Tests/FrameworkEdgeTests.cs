using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Pci.Tests;

/// <summary>Edge cases found in review: whole-BAR accesses, sticky bits, logging volume, index arithmetic.</summary>
public class FrameworkEdgeTests
{
    [Fact]
    public void A_whole_bar_read_over_the_msix_structures_returns_the_table_and_the_pba_piece_by_piece()
    {
        using var f = Functions.Audio();
        f.SetCommand(PciCommand.BusMaster);
        f.WireAll(IrqIndex.Msix);
        f.CfgWrite16(Functions.Msix + 2, 0x8000 | 0x4000); // enable + function mask: raises go pending
        f.Interrupts.Raise(3);
        f.BarWrite64(2, 0x10, 4, 0xFEE0_1000); // vector 1 address low

        var bar = new byte[4096];
        f.BarRead(2, 0, bar);

        BitConverter.ToUInt32(bar, 0x10).Should().Be(0xFEE0_1000, "table bytes come from the table even inside a long read");
        BitConverter.ToUInt32(bar, 12).Should().Be(1, "vector 0 is masked at reset (PCI 3.0 §6.8.2.9)");
        BitConverter.ToUInt64(bar, 0x800).Should().Be(1UL << 3, "the PBA shows the pending vector");
        bar[0x40].Should().Be(0xFF, "bytes outside both structures belong to the (reserved) BAR handler");
    }

    [Fact]
    public void Aer_status_is_sticky_across_function_level_reset_PCIe40_7_8_4()
    {
        using var f = Functions.Audio();
        var aer = f.Capability<AerCapability>()!;
        f.Wire(IrqIndex.Err);
        aer.ReportUncorrectable(14);
        aer.ReportCorrectable(6);

        f.Reset(ResetKind.FunctionLevel);

        aer.UncorrectableStatusBits.Should().Be(1u << 14);
        aer.CorrectableStatusBits.Should().Be(1u << 6);
        (f.Cfg32(Functions.Aer + 0x18) & 0x1F).Should().Be(14, "the First Error Pointer is sticky too");
        f.Cfg32(Functions.Aer + 0x08).Should().Be(0, "the mask is not sticky");
    }

    [Fact]
    public void An_unsupported_request_also_sets_device_status_ur_detected()
    {
        using var f = Functions.Audio();
        f.Capability<AerCapability>()!.ReportUncorrectable(AerCapability.UnsupportedRequestBit);
        (f.Cfg16(Functions.Pcie + 0x0A) & 0x8).Should().Be(0x8);
    }

    [Fact]
    public void An_unclaimed_four_byte_access_counts_once()
    {
        var bank = new RegisterBank("t", 64, NullLogger.Instance);
        bank.Define(RegisterDefinition.ReadWrite("A", 0));

        bank.Read(0x20, AccessSize.Dword).Should().Be(0xFFFF_FFFF);
        bank.Write(0x20, AccessSize.Qword, 1);
        bank.UnclaimedAccesses.Should().Be(2);

        bank.Read(0x0, AccessSize.Qword).Should().Be(0xFFFF_FFFF_0000_0000, "the claimed half reads its register");
        bank.UnclaimedAccesses.Should().Be(3, "a half-claimed access counts once");
    }

    [Fact]
    public void Config_accesses_longer_than_a_dword_are_a_programming_error_not_garbage()
    {
        var config = new ConfigSpace(256);
        var read = () => config.Read(0, 8);
        var write = () => config.Write(0, 0, 0);
        read.Should().Throw<ArgumentOutOfRangeException>();
        write.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Dma_into_an_enabled_expansion_rom_window_is_refused_as_own_bar()
    {
        using var f = Functions.Minimal("rom").MemoryBar(0, "r", 4096, new MemoryHandler(4096), AccessSizes.All).ExpansionRom(new byte[4096]).Build();
        f.DmaMappings.MapRam(0xC000_0000, 0x10000, DmaAccess.ReadWrite, Functions.Ram(0x10000)).Should().Be(0);
        f.CfgWrite32(PciConfigRegisters.ExpansionRom, 0xC000_8000 | 1);
        f.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);

        var buffer = new byte[16];
        f.Dma.Read(0xC000_8010, buffer).Should().Be(DmaResult.OwnBar);
        f.Dma.Read(0xC000_0000, buffer).Should().Be(DmaResult.Ok);

        f.CfgWrite32(PciConfigRegisters.ExpansionRom, 0xC000_8000); // ROM decode off
        f.Dma.Read(0xC000_8010, buffer).Should().Be(DmaResult.Ok);
    }

    [Fact]
    public void Masking_zero_intx_vectors_changes_nothing()
    {
        using var f = Functions.Audio();
        var intx = f.WireAll(IrqIndex.Intx)[0];
        f.Interrupts.SetMasked(IrqIndex.Intx, 0, 0, masked: true);
        f.Interrupts.SetIntxLevel(true);
        intx.Count.Should().Be(1);
    }
}
