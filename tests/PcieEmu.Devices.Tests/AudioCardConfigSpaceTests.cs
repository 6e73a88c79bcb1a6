using PcieEmu.Devices.Models;

namespace PcieEmu.Devices.Tests;

/// <summary>Spec §2 (identity, capabilities) and §3 (BARs), read through configuration space as a host would.</summary>
public sealed class AudioCardConfigSpaceTests : IDisposable
{
    private readonly CardHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public void Identity_is_at_its_header_offsets()
    {
        _h.Cfg16(Spec.CfgVendor).Should().Be(0x1234);
        _h.Cfg16(Spec.CfgDevice).Should().Be(0xAD10);
        _h.Cfg32(0x00).Should().Be(0xAD10_1234u, "device in the high half, vendor in the low half");
        _h.Cfg16(Spec.CfgSubVendor).Should().Be(0x1234);
        _h.Cfg16(Spec.CfgSubsystem).Should().Be(0x0010);
        _h.Cfg8(Spec.CfgRevision).Should().Be(0x01);
        _h.Cfg8(Spec.CfgClass).Should().Be(0x00, "programming interface");
        _h.Cfg8(Spec.CfgClass + 1).Should().Be(0x01, "sub-class: audio device");
        _h.Cfg8(Spec.CfgClass + 2).Should().Be(0x04, "base class: multimedia");
        _h.Cfg32(0x08).Should().Be(0x0401_0001u, "class 04 01 00, revision 01");
    }

    [Fact]
    public void Header_is_type_0_single_function_with_inta()
    {
        _h.Cfg8(Spec.CfgHeaderType).Should().Be(0x00, "header type 0, bit 7 (multi-function) clear");
        _h.Cfg8(Spec.CfgIntPin).Should().Be(0x01, "INTA#");
        (_h.Cfg16(Spec.CfgStatus) & Spec.StsCapList).Should().Be(Spec.StsCapList, "Status.Capabilities_List");
        _h.Cfg16(Spec.CfgCommand).Should().Be(0, "everything disabled at reset");
    }

    [Fact]
    public void Config_space_is_4_KiB()
    {
        _h.F.Config.Size.Should().Be(4096);
        _h.Cfg32(0xFFC).Should().NotBe(0xFFFF_FFFFu, "the last dword is inside the extended space");
    }

    [Fact]
    public void Capability_list_is_in_spec_order_at_spec_offsets()
    {
        var chain = new List<(int Offset, byte Id)>();
        int at = _h.Cfg8(Spec.CfgCapPtr);
        while (at != 0 && chain.Count < 48)
        {
            chain.Add((at, _h.Cfg8(at)));
            at = _h.Cfg8(at + 1);
        }

        chain.Should().Equal((0x40, (byte)0x01), (0x48, (byte)0x05), (0x60, (byte)0x10), (0x9C, (byte)0x11));
    }

    [Fact]
    public void Extended_capability_list_is_aer_then_dsn()
    {
        var chain = new List<(int Offset, ushort Id, int Version)>();
        int at = 0x100;
        while (at != 0 && chain.Count < 64)
        {
            uint header = _h.Cfg32(at);
            chain.Add((at, (ushort)header, (int)((header >> 16) & 0xF)));
            at = (int)(header >> 20);
        }

        chain.Should().Equal((0x100, (ushort)0x0001, 2), (0x148, (ushort)0x0003, 1));
    }

    [Fact]
    public void Power_management_is_v3_with_no_soft_reset_and_no_pme()
    {
        ushort pmc = _h.Cfg16(Spec.PmCap + 2);
        (pmc & 0x7).Should().Be(3, "version 3");
        (pmc & 0xF800).Should().Be(0, "PME not supported from any state");
        (pmc & 0x0600).Should().Be(0, "only D0 and D3hot");
        ushort pmcsr = _h.Cfg16(Spec.Pmcsr);
        (pmcsr & 0x3).Should().Be(0, "D0");
        (pmcsr & 0x8).Should().Be(0x8, "No_Soft_Reset = 1");
    }

    [Fact]
    public void Msi_is_64_bit_with_per_vector_masking_and_log2_vectors_capable()
    {
        ushort control = _h.Cfg16(Spec.MsiControl);
        ((control >> 7) & 1).Should().Be(1, "64-bit address capable");
        ((control >> 8) & 1).Should().Be(1, "per-vector masking capable");
        ((control >> 1) & 7).Should().Be(2, "Multiple Message Capable = log2(4 vectors)");
        (control & 1).Should().Be(0, "disabled at reset");
    }

    [Fact]
    public void Pci_express_is_a_v2_endpoint_with_flr_and_a_gen1_x1_link()
    {
        ushort caps = _h.Cfg16(Spec.PcieCap + 2);
        (caps & 0xF).Should().Be(2, "capability version 2");
        ((caps >> 4) & 0xF).Should().Be(0, "device/port type: PCI Express endpoint");
        uint devCap = _h.Cfg32(Spec.PcieCap + 4);
        ((devCap >> 28) & 1).Should().Be(1, "Function Level Reset capable");
        uint linkCap = _h.Cfg32(Spec.PcieCap + 0xC);
        (linkCap & 0xF).Should().Be(1, "max link speed 2.5 GT/s");
        ((linkCap >> 4) & 0x3F).Should().Be(1, "max link width x1");
        ushort linkStatus = _h.Cfg16(Spec.PcieCap + 0x12);
        (linkStatus & 0xF).Should().Be(1, "current speed 2.5 GT/s");
        ((linkStatus >> 4) & 0x3F).Should().Be(1, "negotiated width x1");
    }

    [Fact]
    public void Msix_table_is_in_bar2_at_0_and_pba_at_0x800()
    {
        ushort control = _h.Cfg16(Spec.MsixControl);
        (control & 0x7FF).Should().Be(3, "table size N-1 for the model's 4 vectors");
        (control & 0xC000).Should().Be(0, "disabled and unmasked at reset");
        _h.Cfg32(Spec.MsixCap + 4).Should().Be(0x000u | 2, "table: BIR 2, offset 0x000");
        _h.Cfg32(Spec.MsixCap + 8).Should().Be(0x800u | 2, "PBA: BIR 2, offset 0x800");
    }

    [Fact]
    public void Device_serial_number_comes_from_the_model()
    {
        _h.Cfg32(Spec.DsnCap + 4).Should().Be(0x0000_0001u, "low dword of 0x5045415500000001");
        _h.Cfg32(Spec.DsnCap + 8).Should().Be(0x5045_4155u, "high dword");
    }

    /// <summary>Writes all-ones to a BAR register and reads back the sizing value (PCI 3.0 §6.2.5.1).</summary>
    private uint Size(int bar)
    {
        int reg = Spec.CfgBar0 + (4 * bar);
        _h.WriteCfg32(reg, 0xFFFF_FFFF);
        uint v = _h.Cfg32(reg);
        _h.WriteCfg32(reg, 0);
        return v;
    }

    [Fact]
    public void Bar0_is_16_KiB_64_bit_non_prefetchable_memory()
    {
        uint low = Size(0);
        (low & 0x1).Should().Be(0, "memory space");
        ((low >> 1) & 0x3).Should().Be(2, "64-bit");
        ((low >> 3) & 0x1).Should().Be(0, "non-prefetchable");
        uint high = Size(1);
        ulong mask = ((ulong)high << 32) | (low & ~0xFu);
        (~mask + 1).Should().Be(16 * 1024UL);
    }

    [Fact]
    public void Bar2_is_4_KiB_32_bit_non_prefetchable_memory()
    {
        uint v = Size(2);
        (v & 0xF).Should().Be(0, "memory, 32-bit, non-prefetchable");
        (~(v & ~0xFu) + 1).Should().Be(4096u);
        Size(3).Should().Be(0, "BAR3 is not implemented");
    }

    [Fact]
    public void Bar4_is_4_KiB_64_bit_prefetchable_memory()
    {
        uint low = Size(4);
        (low & 0x1).Should().Be(0);
        ((low >> 1) & 0x3).Should().Be(2, "64-bit");
        ((low >> 3) & 0x1).Should().Be(1, "prefetchable");
        uint high = Size(5);
        ulong mask = ((ulong)high << 32) | (low & ~0xFu);
        (~mask + 1).Should().Be(4096UL);
    }

    [Fact]
    public void There_is_no_expansion_rom_or_io_bar_in_the_default_model()
    {
        _h.WriteCfg32(Spec.CfgRom, 0xFFFF_FFFF);
        _h.Cfg32(Spec.CfgRom).Should().Be(0);
        for (int bar = 0; bar < 6; bar++)
        {
            (_h.Cfg32(Spec.CfgBar0 + (4 * bar)) & 1).Should().Be(0, $"BAR{bar} is not I/O");
        }
    }

    [Fact]
    public void Bar_addresses_keep_their_programmed_value()
    {
        _h.WriteCfg32(Spec.CfgBar0, 0xFEBF_C000);
        _h.WriteCfg32(Spec.CfgBar0 + 4, 0x0000_0001);
        _h.Cfg32(Spec.CfgBar0).Should().Be(0xFEBF_C004u, "address plus the 64-bit type bits");
        _h.Cfg32(Spec.CfgBar0 + 4).Should().Be(1u);
        _h.WriteCfg32(Spec.CfgBar0, 0xFEBF_E000);
        (_h.Cfg32(Spec.CfgBar0) & ~0xFu).Should().Be(0xFEBF_C000u, "bits below the 16 KiB size are read-only zero");
    }

    [Fact]
    public void Sram_bar_is_offered_for_direct_mapping_over_the_whole_bar()
    {
        var sram = _h.F.Bars[4]!;
        sram.Memory.Should().NotBeNull();
        sram.MmapAreas.Should().ContainSingle().Which.Should().Be(new PcieEmu.Pci.Bars.MmapArea(0, 4096));
        _h.Card.Sram.Should().BeSameAs(sram.Memory);
    }

    [Fact]
    public void A_model_with_an_expansion_rom_exposes_it()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Path.Combine(dir.Path, "rom.bin"), [0x55, 0xAA, 0x10]);
        var json = Repo.DefaultModelJson();
        json["expansionRom"] = new System.Text.Json.Nodes.JsonObject { ["file"] = "rom.bin" };
        using var h = new CardHarness(CardModelLoader.LoadAudio(dir.Write("rom.json", json)));

        h.WriteCfg32(Spec.CfgRom, 0xFFFF_F800);
        (~(h.Cfg32(Spec.CfgRom) & 0xFFFF_F800u) + 1).Should().Be(2048u, "the smallest ROM BAR that holds the image");
        var image = new byte[4];
        h.F.RomRead(0, image);
        image.Should().Equal(0x55, 0xAA, 0x10, 0xFF);
    }
}
