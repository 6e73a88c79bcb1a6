using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;

namespace PcieEmu.Pci.Tests;

/// <summary>Automatic capability placement and linking (PCI 3.0 §6.7, PCIe 4.0 §7.6.3).</summary>
public class CapabilityLayoutTests
{
    [Fact]
    public void Audio_card_capabilities_sit_where_its_spec_says_README_2()
    {
        using var f = Functions.Audio();

        f.Cfg8(PciConfigRegisters.CapabilitiesPointer).Should().Be(0x40);
        Walk(f).Should().Equal(
            (0x40, (byte)0x01), // Power Management
            (0x48, (byte)0x05), // MSI
            (0x60, (byte)0x10), // PCI Express
            (0x9C, (byte)0x11)); // MSI-X

        WalkExtended(f).Should().Equal(
            (0x100, (ushort)0x0001, (byte)2), // AER v2
            (0x148, (ushort)0x0003, (byte)1)); // DSN v1

        f.Capability<PowerManagementCapability>()!.Offset.Should().Be(Functions.Pm);
        f.Capability<MsiCapability>()!.Offset.Should().Be(Functions.Msi);
        f.Capability<PciExpressCapability>()!.Offset.Should().Be(Functions.Pcie);
        f.Capability<MsixCapability>()!.Offset.Should().Be(Functions.Msix);
        f.Capability<AerCapability>()!.Offset.Should().Be(Functions.Aer);
        f.Capability<DeviceSerialNumberCapability>()!.Offset.Should().Be(Functions.Dsn);
    }

    [Fact]
    public void Capabilities_are_placed_from_0x40_in_order_dword_aligned_and_the_chain_ends_at_zero()
    {
        // PM: 8 bytes; MSI 32-bit without masking: 10 bytes (next must round up to 0x54); MSI-X: 12 bytes.
        using var f = Functions.Minimal()
            .ReservedMemoryBar(0, "msix", 4096)
            .Capability(new PowerManagementCapability())
            .Capability(new MsiCapability(1, is64Bit: false, perVectorMask: false))
            .Capability(new MsixCapability(2, 0, 0, 0, 0x800))
            .Build();

        Walk(f).Select(c => c.Offset).Should().Equal(0x40, 0x48, 0x54);
        f.Cfg8(0x54 + 1).Should().Be(0, "the last capability's next pointer ends the list");
        Walk(f).Should().OnlyContain(c => c.Offset % 4 == 0);
    }

    [Fact]
    public void Capability_headers_are_read_only()
    {
        using var f = Functions.Audio();
        f.CfgWrite16(0x40, 0xFFFF);
        f.CfgWrite8(PciConfigRegisters.CapabilitiesPointer, 0x80);
        f.CfgWrite32(0x100, 0);
        f.Cfg16(0x40).Should().Be(0x4801);
        f.Cfg8(PciConfigRegisters.CapabilitiesPointer).Should().Be(0x40);
        f.Cfg32(0x100).Should().Be(0x1482_0001);
    }

    [Fact]
    public void Extended_capability_header_packs_id_version_and_next_PCIe_7_6_3()
    {
        using var f = Functions.Audio();
        // [15:0] ID, [19:16] version, [31:20] next offset
        f.Cfg32(0x100).Should().Be(0x1482_0001);
        f.Cfg32(0x148).Should().Be(0x0001_0003);
    }

    [Fact]
    public void Extended_capabilities_alone_start_at_0x100_with_no_standard_list()
    {
        using var f = Functions.Minimal().ExtendedConfigSpace()
            .Capability(new DeviceSerialNumberCapability(1))
            .Capability(new AerCapability())
            .Build();

        f.Cfg8(PciConfigRegisters.CapabilitiesPointer).Should().Be(0);
        WalkExtended(f).Should().Equal((0x100, (ushort)3, (byte)1), (0x10C, (ushort)1, (byte)2));
    }

    [Fact]
    public void Without_extended_capabilities_offset_0x100_is_zero_in_extended_space()
    {
        using var f = Functions.Minimal().ExtendedConfigSpace().Build();
        f.Cfg32(0x100).Should().Be(0);
    }

    [Fact]
    public void A_standard_config_space_reads_all_ones_past_0xFF()
    {
        using var f = Functions.Minimal().Build();
        f.Cfg32(0x100).Should().Be(0xFFFF_FFFF);
    }

    private static List<(int Offset, byte Id)> Walk(PciFunction f)
    {
        var caps = new List<(int, byte)>();
        int at = f.Cfg8(PciConfigRegisters.CapabilitiesPointer);
        while (at != 0)
        {
            caps.Add((at, f.Cfg8(at)));
            at = f.Cfg8(at + 1);
            if (caps.Count > 48)
            {
                throw new InvalidOperationException("capability list loops");
            }
        }

        return caps;
    }

    private static List<(int Offset, ushort Id, byte Version)> WalkExtended(PciFunction f)
    {
        var caps = new List<(int, ushort, byte)>();
        int at = 0x100;
        while (at != 0)
        {
            uint h = f.Cfg32(at);
            if (h == 0)
            {
                break;
            }

            caps.Add((at, (ushort)h, (byte)((h >> 16) & 0xF)));
            at = (int)(h >> 20);
            if (caps.Count > 64)
            {
                throw new InvalidOperationException("extended capability list loops");
            }
        }

        return caps;
    }
}
