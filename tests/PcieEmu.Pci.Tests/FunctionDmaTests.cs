using System.Buffers.Binary;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Tests;

/// <summary>The device's DMA view through its function: gating (style.md §3.1.9–10) and bounded rings.</summary>
public class FunctionDmaTests
{
    private const ulong Bar0Address = 0xFE00_0000;

    [Fact]
    public void Dma_is_refused_while_bus_master_enable_is_clear_audio_spec_6_1_rule_1()
    {
        using var f = Functions.Audio();
        var ram = Functions.Ram(0x1000, 0x77);
        f.DmaMappings.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, ram);
        f.SetCommand(PciCommand.MemorySpace);

        var buf = new byte[4];
        f.Dma.Read(0x1000, buf).Should().Be(DmaResult.BusMasterDisabled);
        buf.Should().OnlyContain(b => b == 0);
        f.Dma.Write(0x1000, new byte[4]).Should().Be(DmaResult.BusMasterDisabled);
        ram[0].Should().Be(0x77);
        f.Dma.Check(0x1000, 4, DmaAccess.Read).Should().Be(DmaResult.BusMasterDisabled);
        f.Statistics.DmaFaults.Should().BeGreaterThan(0);

        f.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        f.Dma.Read(0x1000, buf).Should().Be(DmaResult.Ok);
        buf.Should().OnlyContain(b => b == 0x77);
        f.Statistics.DmaReadBytes.Should().Be(4);
    }

    [Fact]
    public void Dma_into_a_decoded_own_bar_is_refused_audio_spec_6_1_rule_3()
    {
        using var f = Functions.Audio();
        f.DmaMappings.MapRam(Bar0Address, 0x10_0000, DmaAccess.ReadWrite, Functions.Ram(0x10_0000));
        f.CfgWrite32(0x10, (uint)Bar0Address);
        f.CfgWrite32(0x14, 0);
        f.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        var buf = new byte[8];

        f.Dma.Read(Bar0Address + 0x10, buf).Should().Be(DmaResult.OwnBar);
        f.Dma.Write(Bar0Address + 0x3FFC, buf).Should().Be(DmaResult.OwnBar, "the range overlaps the BAR's last bytes");
        f.Dma.Read(Bar0Address + 0x4000, buf).Should().Be(DmaResult.Ok, "just past the 16 KiB BAR");
        f.Dma.Read(Bar0Address - 8, buf).Should().Be(DmaResult.Unmapped, "ends just below the BAR, so only the IOVA table decides");
        f.Dma.Read(Bar0Address - 4, buf).Should().Be(DmaResult.OwnBar, "a range straddling the BAR start is refused before translation");
    }

    [Fact]
    public void First_fault_is_the_first_byte_a_gate_or_the_table_refuses()
    {
        using var f = Functions.Audio();
        f.DmaMappings.MapRam(Bar0Address - 0x1000, 0x10_1000, DmaAccess.ReadWrite, Functions.Ram(0x10_1000));
        f.DmaMappings.MapRam(0x1000, 0x1000, DmaAccess.Read, Functions.Ram(0x1000));
        f.CfgWrite32(0x10, (uint)Bar0Address);
        f.CfgWrite32(0x14, 0);
        f.SetCommand(PciCommand.MemorySpace);

        f.Dma.FirstFault(0x1800, 8, DmaAccess.Read).Should().Be(0x1800UL, "without bus mastering the first byte already faults");
        f.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        f.Dma.FirstFault(0x1800, 8, DmaAccess.Read).Should().BeNull();
        f.Dma.FirstFault(0x1800, 8, DmaAccess.Write).Should().Be(0x1800UL, "a read-only mapping");
        f.Dma.FirstFault(0x1ff0, 0x20, DmaAccess.Read).Should().Be(0x2000UL, "past the mapping");
        f.Dma.FirstFault(Bar0Address - 0x10, 0x20, DmaAccess.Read).Should().Be(Bar0Address, "mapped, but the second half is our own BAR");
        f.Dma.FirstFault(Bar0Address - 0x10, 0x10, DmaAccess.Read).Should().BeNull("ends just below the BAR");
        f.Statistics.DmaFaults.Should().Be(0, "looking where a transfer would fault is not a transfer");
    }

    [Fact]
    public void Own_bar_refusal_needs_memory_space_decoding()
    {
        using var f = Functions.Audio();
        f.DmaMappings.MapRam(Bar0Address, 0x10_0000, DmaAccess.ReadWrite, Functions.Ram(0x10_0000));
        f.CfgWrite32(0x10, (uint)Bar0Address);
        f.SetCommand(PciCommand.BusMaster);
        var buf = new byte[8];

        f.Dma.Read(Bar0Address + 0x10, buf).Should().Be(DmaResult.Ok, "the BAR does not decode without Memory Space");

        f.SetCommand(PciCommand.BusMaster | PciCommand.MemorySpace);
        f.Dma.Read(Bar0Address + 0x10, buf).Should().Be(DmaResult.OwnBar);

        f.CfgWrite32(0x10, 0xFD00_0000); // moved away
        f.Dma.Read(Bar0Address + 0x10, buf).Should().Be(DmaResult.Ok);
    }

    [Fact]
    public void Own_bar_uses_both_dwords_of_a_64bit_bar()
    {
        using var f = Functions.Audio();
        const ulong high = 0x0000_0001_0000_0000;
        f.DmaMappings.MapRam(high, 0x1_0000, DmaAccess.Read, Functions.Ram(0x1_0000));
        f.DmaMappings.MapRam(0, 0x1_0000, DmaAccess.Read, Functions.Ram(0x1_0000));
        f.CfgWrite32(0x10, 0);
        f.CfgWrite32(0x14, 1);
        f.SetCommand(PciCommand.BusMaster | PciCommand.MemorySpace);

        f.Dma.Read(high + 0x100, new byte[4]).Should().Be(DmaResult.OwnBar);
        f.Dma.Read(0x100, new byte[4]).Should().Be(DmaResult.Ok);
    }

    [Fact]
    public void Dma_while_holding_the_function_lock_throws()
    {
        using var f = Functions.Audio();
        f.SetCommand(PciCommand.BusMaster);
        lock (f.Sync)
        {
            var act = () => f.Dma.Read(0x1000, new byte[4]);
            act.Should().Throw<InvalidOperationException>();
        }

        f.Dma.Read(0x1000, new byte[4]).Should().Be(DmaResult.Unmapped, "outside the lock the call goes through");
    }

    [Fact]
    public void Typed_helpers_are_little_endian()
    {
        using var f = Functions.Audio();
        var ram = Functions.Ram(0x100);
        f.DmaMappings.MapRam(0x1000, 0x100, DmaAccess.ReadWrite, ram);
        f.SetCommand(PciCommand.BusMaster);

        f.Dma.WriteUInt32(0x1000, 0x1122_3344).Should().Be(DmaResult.Ok);
        f.Dma.WriteUInt64(0x1008, 0x0102_0304_0506_0708).Should().Be(DmaResult.Ok);

        ram[..4].Should().Equal(0x44, 0x33, 0x22, 0x11);
        ram[8..16].Should().Equal(0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01);

        BinaryPrimitives.WriteUInt32LittleEndian(ram.AsSpan(0x20), 0xDEAD_BEEF);
        BinaryPrimitives.WriteUInt64LittleEndian(ram.AsSpan(0x28), 0xFEDC_BA98_7654_3210);
        f.Dma.ReadUInt32(0x1020, out uint v32).Should().Be(DmaResult.Ok);
        f.Dma.ReadUInt64(0x1028, out ulong v64).Should().Be(DmaResult.Ok);
        v32.Should().Be(0xDEAD_BEEF);
        v64.Should().Be(0xFEDC_BA98_7654_3210);
    }

    [Fact]
    public void Typed_reads_that_fail_return_zero_and_the_error()
    {
        using var f = Functions.Audio();
        f.Dma.ReadUInt32(0x1000, out uint v).Should().Be(DmaResult.BusMasterDisabled);
        v.Should().Be(0);
        f.SetCommand(PciCommand.BusMaster);
        f.Dma.ReadUInt64(0x1000, out ulong w).Should().Be(DmaResult.Unmapped);
        w.Should().Be(0);
    }
}
