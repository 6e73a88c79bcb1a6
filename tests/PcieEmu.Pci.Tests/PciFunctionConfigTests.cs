using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;

namespace PcieEmu.Pci.Tests;

/// <summary>The type-0 header the builder produces and the config semantics PciFunction adds (PCI 3.0 §6.1, §6.2).</summary>
public class PciFunctionConfigTests
{
    // ------------------------------------------------------------------ header from PciIdentity

    [Fact]
    public void Type0_header_fields_come_from_the_identity_audio_spec_2()
    {
        using var f = Functions.Audio();

        f.Cfg16(PciConfigRegisters.VendorId).Should().Be(0x1234);
        f.Cfg16(PciConfigRegisters.DeviceId).Should().Be(0xAD10);
        f.Cfg32(0x08).Should().Be(0x0401_0001, "class 04 01 00 and revision 01 (base class in the top byte)");
        f.Cfg8(PciConfigRegisters.HeaderType).Should().Be(0, "type 0, single function");
        f.Cfg16(PciConfigRegisters.SubsystemVendorId).Should().Be(0x1234);
        f.Cfg16(PciConfigRegisters.SubsystemId).Should().Be(0x0010);
        f.Cfg8(PciConfigRegisters.InterruptPin).Should().Be(1, "INTA#");
        f.Cfg16(PciConfigRegisters.Command).Should().Be(0);
    }

    [Fact]
    public void Identity_fields_are_read_only()
    {
        using var f = Functions.Audio();
        f.CfgWrite32(0x00, 0xFFFF_FFFF);
        f.CfgWrite32(0x08, 0xFFFF_FFFF);
        f.CfgWrite32(0x2C, 0xFFFF_FFFF);
        f.CfgWrite8(PciConfigRegisters.InterruptPin, 4);

        f.Cfg32(0x00).Should().Be(0xAD10_1234);
        f.Cfg32(0x08).Should().Be(0x0401_0001);
        f.Cfg32(0x2C).Should().Be(0x0010_1234);
        f.Cfg8(PciConfigRegisters.InterruptPin).Should().Be(1);
    }

    [Fact]
    public void Interrupt_line_and_cache_line_size_are_scratch_registers_for_software()
    {
        using var f = Functions.Audio();
        f.CfgWrite8(PciConfigRegisters.InterruptLine, 0x0B);
        f.CfgWrite8(PciConfigRegisters.CacheLineSize, 0x10);
        f.Cfg8(PciConfigRegisters.InterruptLine).Should().Be(0x0B);
        f.Cfg8(PciConfigRegisters.CacheLineSize).Should().Be(0x10);
    }

    [Fact]
    public void Build_without_identity_fails()
    {
        var act = () => new PciFunctionBuilder("x").Build();
        act.Should().Throw<PciConfigurationException>().WithMessage("*identity*");
    }

    // ------------------------------------------------------------------ Command / Status

    [Fact]
    public void Command_with_memory_bars_only_makes_memory_space_writable_but_not_io_space_PCI30_6_2_2()
    {
        using var f = Functions.Audio();
        f.CfgWrite16(PciConfigRegisters.Command, 0xFFFF);
        // Memory (1) | Bus master (2) | Parity error response (6) | SERR# (8) | Interrupt disable (10)
        f.Cfg16(PciConfigRegisters.Command).Should().Be(0x0546);
    }

    [Fact]
    public void Command_with_an_io_bar_also_makes_io_space_writable()
    {
        using var f = Functions.Minimal().IoBar(0, "io", 32, new MemoryHandler(32), AccessSizes.All).Build();
        f.CfgWrite16(PciConfigRegisters.Command, 0xFFFF);
        f.Cfg16(PciConfigRegisters.Command).Should().Be(0x0545);
    }

    [Fact]
    public void Command_without_any_bar_decodes_neither_space()
    {
        using var f = Functions.Minimal().Build();
        f.CfgWrite16(PciConfigRegisters.Command, 0xFFFF);
        f.Cfg16(PciConfigRegisters.Command).Should().Be(0x0544);
    }

    [Fact]
    public void Command_with_only_an_expansion_rom_decodes_memory_space()
    {
        using var f = Functions.Minimal().ExpansionRom(new byte[100]).Build();
        f.CfgWrite16(PciConfigRegisters.Command, 0xFFFF);
        f.Cfg16(PciConfigRegisters.Command).Should().Be(0x0546);
    }

    [Fact]
    public void Status_capabilities_list_is_set_when_capabilities_exist_and_is_read_only()
    {
        using var f = Functions.Audio();
        f.Cfg16(PciConfigRegisters.Status).Should().Be((ushort)PciStatus.CapabilitiesList);
        f.CfgWrite16(PciConfigRegisters.Status, 0xFFFF);
        f.Cfg16(PciConfigRegisters.Status).Should().Be((ushort)PciStatus.CapabilitiesList);

        using var bare = Functions.Minimal().Build();
        bare.Cfg16(PciConfigRegisters.Status).Should().Be(0);
        bare.Cfg8(PciConfigRegisters.CapabilitiesPointer).Should().Be(0);
    }

    [Fact]
    public void Status_error_bits_are_write_one_to_clear_PCI30_6_2_3()
    {
        using var f = Functions.Audio();
        const ushort errors = 0x8000 | 0x4000 | 0x2000 | 0x1000 | 0x0800 | 0x0100;
        f.Config.Set16(PciConfigRegisters.Status, (ushort)(f.Config.Get16(PciConfigRegisters.Status) | errors));

        // Clear Received Master Abort (13) and Detected Parity Error (15) only.
        f.CfgWrite16(PciConfigRegisters.Status, 0xA000);
        f.Cfg16(PciConfigRegisters.Status).Should().Be(0x4000 | 0x1000 | 0x0800 | 0x0100 | 0x0010);

        // Writing 0 clears nothing; writing 1 to the RO Capabilities List bit does not clear it.
        f.CfgWrite16(PciConfigRegisters.Status, 0x0010);
        f.Cfg16(PciConfigRegisters.Status).Should().Be(0x4000 | 0x1000 | 0x0800 | 0x0100 | 0x0010);

        f.CfgWrite16(PciConfigRegisters.Status, 0xFFFF);
        f.Cfg16(PciConfigRegisters.Status).Should().Be(0x0010);
    }

    [Fact]
    public void Status_interrupt_status_bit_is_read_only_to_software()
    {
        using var f = Functions.Audio();
        f.CfgWrite16(PciConfigRegisters.Status, (ushort)PciStatus.InterruptStatus);
        (f.Cfg16(PciConfigRegisters.Status) & (ushort)PciStatus.InterruptStatus).Should().Be(0);
    }

    // ------------------------------------------------------------------ BAR sizing (PCI 3.0 §6.2.5.1)

    [Fact]
    public void Bar_64bit_sizing_16KiB_non_prefetchable_both_dwords()
    {
        using var f = Functions.Audio();
        f.Cfg32(0x10).Should().Be(0x4u, "type bits: memory, 64-bit, non-prefetchable");
        f.CfgWrite32(0x10, 0xFFFF_FFFF);
        f.CfgWrite32(0x14, 0xFFFF_FFFF);
        f.Cfg32(0x10).Should().Be(0xFFFF_C004);
        f.Cfg32(0x14).Should().Be(0xFFFF_FFFF);

        f.CfgWrite32(0x10, 0xFE00_0000);
        f.CfgWrite32(0x14, 0x0000_0001);
        f.Cfg32(0x10).Should().Be(0xFE00_0004);
        f.Cfg32(0x14).Should().Be(0x0000_0001);
    }

    [Fact]
    public void Bar_64bit_larger_than_4GiB_sizes_in_the_upper_dword()
    {
        using var f = Functions.Minimal().MemoryBar(0, "big", 8UL << 30, new MemoryHandler(16), AccessSizes.All, is64Bit: true, prefetchable: true).Build();
        f.CfgWrite32(0x10, 0xFFFF_FFFF);
        f.CfgWrite32(0x14, 0xFFFF_FFFF);
        f.Cfg32(0x10).Should().Be(0x0000_000C, "no address bits below 8 GiB; prefetchable 64-bit type");
        f.Cfg32(0x14).Should().Be(0xFFFF_FFFE);
    }

    [Fact]
    public void Bar_32bit_sizing_4KiB()
    {
        using var f = Functions.Audio();
        f.Cfg32(0x18).Should().Be(0);
        f.CfgWrite32(0x18, 0xFFFF_FFFF);
        f.Cfg32(0x18).Should().Be(0xFFFF_F000);
        f.CfgWrite32(0x18, 0xFEB0_0000);
        f.Cfg32(0x18).Should().Be(0xFEB0_0000);
    }

    [Fact]
    public void Bar_64bit_prefetchable_sizing_4KiB()
    {
        using var f = Functions.Audio(sram: true);
        f.Cfg32(0x20).Should().Be(0xCu);
        f.CfgWrite32(0x20, 0xFFFF_FFFF);
        f.CfgWrite32(0x24, 0xFFFF_FFFF);
        f.Cfg32(0x20).Should().Be(0xFFFF_F00C);
        f.Cfg32(0x24).Should().Be(0xFFFF_FFFF);
    }

    [Fact]
    public void Bar_io_sizing_32_bytes()
    {
        using var f = Functions.Minimal().IoBar(1, "io", 32, new MemoryHandler(32), AccessSizes.All).Build();
        f.Cfg32(0x14).Should().Be(0x1u);
        f.CfgWrite32(0x14, 0xFFFF_FFFF);
        f.Cfg32(0x14).Should().Be(0xFFFF_FFE1);
        f.CfgWrite32(0x14, 0x0000_C040);
        f.Cfg32(0x14).Should().Be(0x0000_C041);
    }

    [Fact]
    public void Unimplemented_bars_read_zero_and_ignore_sizing()
    {
        using var f = Functions.Audio();
        foreach (int bar in new[] { 4, 5 })
        {
            int reg = PciConfigRegisters.BarOffset(bar);
            f.CfgWrite32(reg, 0xFFFF_FFFF);
            f.Cfg32(reg).Should().Be(0, $"BAR{bar} is not implemented");
        }
    }

    [Fact]
    public void Bar_type_bits_are_read_only()
    {
        using var f = Functions.Audio();
        f.CfgWrite32(0x10, 0);
        f.Cfg32(0x10).Should().Be(0x4u);
    }

    // ------------------------------------------------------------------ expansion ROM (PCI 3.0 §6.2.5.2)

    [Fact]
    public void Expansion_rom_bar_sizes_with_the_enable_bit_separate()
    {
        var image = new byte[3000];
        new Random(7).NextBytes(image);
        using var f = Functions.Minimal().ExpansionRom(image).Build();

        f.Rom!.Size.Should().Be(4096);
        f.Cfg32(PciConfigRegisters.ExpansionRom).Should().Be(0);
        f.CfgWrite32(PciConfigRegisters.ExpansionRom, 0xFFFF_F800);
        f.Cfg32(PciConfigRegisters.ExpansionRom).Should().Be(0xFFFF_F000);
        f.CfgWrite32(PciConfigRegisters.ExpansionRom, 0xFFFF_FFFF);
        f.Cfg32(PciConfigRegisters.ExpansionRom).Should().Be(0xFFFF_F001, "bit 0 is the ROM enable; bits 10:1 are reserved");
        f.CfgWrite32(PciConfigRegisters.ExpansionRom, 0xC000_0001);
        f.Cfg32(PciConfigRegisters.ExpansionRom).Should().Be(0xC000_0001);
    }

    [Fact]
    public void Expansion_rom_of_a_tiny_image_is_at_least_2KiB()
    {
        using var f = Functions.Minimal().ExpansionRom(new byte[10]).Build();
        f.Rom!.Size.Should().Be(2048);
        f.CfgWrite32(PciConfigRegisters.ExpansionRom, 0xFFFF_F800);
        f.Cfg32(PciConfigRegisters.ExpansionRom).Should().Be(0xFFFF_F800);
    }

    [Fact]
    public void Rom_read_returns_the_image_then_0xFF_past_its_end()
    {
        var image = new byte[3000];
        for (int i = 0; i < image.Length; i++)
        {
            image[i] = (byte)(i * 7);
        }

        using var f = Functions.Minimal().ExpansionRom(image).Build();
        var head = new byte[4];
        f.RomRead(0, head);
        head.Should().Equal(image[..4]);

        var tail = new byte[6];
        f.RomRead(2996, tail);
        tail.Should().Equal(image[2996], image[2997], image[2998], image[2999], 0xFF, 0xFF);

        var beyond = new byte[4];
        f.RomRead(5000, beyond);
        beyond.Should().OnlyContain(b => b == 0xFF);
    }

    [Fact]
    public void Without_a_rom_the_rom_bar_is_read_only_zero_and_rom_reads_are_all_ones()
    {
        using var f = Functions.Audio();
        f.CfgWrite32(PciConfigRegisters.ExpansionRom, 0xFFFF_FFFF);
        f.Cfg32(PciConfigRegisters.ExpansionRom).Should().Be(0);
        var data = new byte[4];
        f.RomRead(0, data);
        data.Should().OnlyContain(b => b == 0xFF);
    }

    [Theory]
    [InlineData(0)]
    [InlineData((16 << 20) + 1)]
    public void Rom_images_must_be_1_byte_to_16MiB(int length)
    {
        var act = () => new ExpansionRom(new byte[length]);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    // ------------------------------------------------------------------ builder validation

    [Theory]
    [InlineData(0UL)]
    [InlineData(8UL)]
    [InlineData(24UL)]
    [InlineData(4096UL + 16)]
    public void Memory_bar_sizes_must_be_powers_of_two_of_at_least_16(ulong size)
    {
        var act = () => Functions.Minimal().MemoryBar(0, "r", size, new MemoryHandler(16), AccessSizes.All);
        act.Should().Throw<PciConfigurationException>().WithMessage("*power of two*");
    }

    [Theory]
    [InlineData(2UL)]
    [InlineData(12UL)]
    [InlineData(512UL)]
    public void Io_bar_sizes_must_be_powers_of_two_from_4_to_256(ulong size)
    {
        var act = () => Functions.Minimal().IoBar(0, "io", size, new MemoryHandler(16), AccessSizes.All);
        act.Should().Throw<PciConfigurationException>();
    }

    [Fact]
    public void Memory32_bar_cannot_exceed_2GiB()
    {
        var act = () => Functions.Minimal().MemoryBar(0, "r", 4UL << 30, new MemoryHandler(16), AccessSizes.All);
        act.Should().Throw<PciConfigurationException>();
    }

    [Fact]
    public void A_64bit_bar_cannot_start_at_index_5()
    {
        var act = () => Functions.Minimal().MemoryBar(5, "r", 4096, new MemoryHandler(16), AccessSizes.All, is64Bit: true);
        act.Should().Throw<PciConfigurationException>().WithMessage("*BAR5*");
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(6)]
    public void Bar_index_must_be_0_to_5(int index)
    {
        var act = () => Functions.Minimal().MemoryBar(index, "r", 4096, new MemoryHandler(16), AccessSizes.All);
        act.Should().Throw<PciConfigurationException>();
    }

    [Fact]
    public void A_bar_slot_cannot_be_used_twice()
    {
        var act = () => Functions.Minimal()
            .MemoryBar(1, "a", 4096, new MemoryHandler(16), AccessSizes.All)
            .IoBar(1, "b", 16, new MemoryHandler(16), AccessSizes.All);
        act.Should().Throw<PciConfigurationException>().WithMessage("*taken*");
    }

    [Fact]
    public void The_upper_half_of_a_64bit_bar_is_taken()
    {
        var after = () => Functions.Minimal()
            .MemoryBar(0, "a", 4096, new MemoryHandler(16), AccessSizes.All, is64Bit: true)
            .MemoryBar(1, "b", 4096, new MemoryHandler(16), AccessSizes.All);
        after.Should().Throw<PciConfigurationException>();

        var before = () => Functions.Minimal()
            .MemoryBar(1, "b", 4096, new MemoryHandler(16), AccessSizes.All)
            .MemoryBar(0, "a", 4096, new MemoryHandler(16), AccessSizes.All, is64Bit: true);
        before.Should().Throw<PciConfigurationException>();
    }

    [Fact]
    public void Extended_capabilities_need_the_4KiB_config_space()
    {
        var act = () => Functions.Minimal().Capability(new AerCapability()).Build();
        act.Should().Throw<PciConfigurationException>().WithMessage("*4 KiB*");
    }

    [Fact]
    public void Msix_table_outside_its_bar_is_rejected()
    {
        var act = () => Functions.Minimal()
            .ReservedMemoryBar(2, "msix", 4096)
            .Capability(new MsixCapability(4, 2, 0xFF8, 2, 0x800))
            .Build();
        act.Should().Throw<PciConfigurationException>().WithMessage("*table*BAR2*");
    }

    [Fact]
    public void Msix_pba_outside_its_bar_is_rejected()
    {
        var act = () => Functions.Minimal()
            .ReservedMemoryBar(2, "msix", 4096)
            .Capability(new MsixCapability(4, 2, 0, 2, 0x1000))
            .Build();
        act.Should().Throw<PciConfigurationException>().WithMessage("*PBA*");
    }

    [Fact]
    public void Msix_in_a_missing_or_io_bar_is_rejected()
    {
        var missing = () => Functions.Minimal().Capability(new MsixCapability(4, 3, 0, 3, 0x800)).Build();
        missing.Should().Throw<PciConfigurationException>();

        var io = () => Functions.Minimal()
            .IoBar(3, "io", 256, new MemoryHandler(256), AccessSizes.All)
            .Capability(new MsixCapability(4, 3, 0, 3, 0x80))
            .Build();
        io.Should().Throw<PciConfigurationException>();
    }

    [Theory]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(-1)]
    public void Msix_naming_a_bar_indicator_that_is_no_bar_is_a_configuration_error(int bir)
    {
        var act = () => Functions.Minimal()
            .ReservedMemoryBar(2, "msix", 4096)
            .Capability(new MsixCapability(4, bir, 0, 2, 0x800))
            .Build();
        act.Should().Throw<PciConfigurationException>();
    }

    [Fact]
    public void Msix_table_and_pba_may_not_overlap()
    {
        var act = () => Functions.Minimal()
            .ReservedMemoryBar(2, "msix", 4096)
            .Capability(new MsixCapability(8, 2, 0, 2, 0x40))
            .Build();
        act.Should().Throw<PciConfigurationException>().WithMessage("*overlap*");
    }

    [Fact]
    public void Standard_capabilities_must_fit_below_0x100()
    {
        var b = Functions.Minimal();
        for (int i = 0; i < 4; i++)
        {
            b.Capability(new PciExpressCapability());
        }

        var act = () => b.Build();
        act.Should().Throw<PciConfigurationException>().WithMessage("*0x40*0xFF*");
    }

    // ------------------------------------------------------------------ arbitrary-length config accesses

    [Fact]
    public void A_256_byte_config_read_equals_byte_wise_reads()
    {
        using var f = Functions.Audio();
        f.CfgWrite32(0x10, 0xFE00_0000);
        f.CfgWrite16(PciConfigRegisters.Command, 0x0006);

        var bulk = new byte[256];
        f.ConfigRead(0, bulk);
        var single = new byte[256];
        for (int i = 0; i < 256; i++)
        {
            f.ConfigRead(i, single.AsSpan(i, 1));
        }

        bulk.Should().Equal(single);
        bulk.Should().Equal(f.Config.Bytes[..256].ToArray());
    }

    [Fact]
    public void A_whole_extended_space_read_matches_the_backing_bytes()
    {
        using var f = Functions.Audio();
        var bulk = new byte[4096];
        f.ConfigRead(0, bulk);
        bulk.Should().Equal(f.Config.Bytes.ToArray());
    }

    [Theory]
    [InlineData(1, 7)]
    [InlineData(3, 5)]
    [InlineData(0x3E, 9)]
    [InlineData(0x41, 3)]
    public void Unaligned_multi_byte_reads_equal_byte_wise_reads(int offset, int length)
    {
        using var f = Functions.Audio();
        var bulk = new byte[length];
        f.ConfigRead(offset, bulk);
        for (int i = 0; i < length; i++)
        {
            bulk[i].Should().Be(f.Config.Get8(offset + i), $"byte 0x{offset + i:x}");
        }
    }

    [Fact]
    public void Two_byte_write_at_an_odd_offset_splits_across_registers()
    {
        using var f = Functions.Audio();
        // 0x0B is the (read-only) base class, 0x0C the (writable) cache line size.
        f.ConfigWrite(0x0B, [0xAA, 0x55]);
        f.Cfg8(0x0B).Should().Be(0x04);
        f.Cfg8(PciConfigRegisters.CacheLineSize).Should().Be(0x55);

        // 0x05 is Command's high byte (SERR#, Interrupt Disable), 0x06 Status' low byte (read-only).
        f.ConfigWrite(0x05, [0xFF, 0xFF]);
        f.Cfg16(PciConfigRegisters.Command).Should().Be(0x0500);
        f.Cfg16(PciConfigRegisters.Status).Should().Be(0x0010);
    }

    [Fact]
    public void A_write_crossing_a_dword_boundary_reaches_both_registers()
    {
        using var f = Functions.Audio();
        // 0x0E header type + 0x0F BIST (read-only), then BAR0 bytes 0 and 1.
        f.ConfigWrite(0x0E, [0x80, 0xFF, 0x00, 0xC0]);
        f.Cfg8(PciConfigRegisters.HeaderType).Should().Be(0);
        f.Cfg32(0x10).Should().Be(0x0000_C004, "BAR0 took address bits 15:14 from the write, kept its type bits");
    }

    [Fact]
    public void A_write_of_the_command_register_through_a_long_access_still_takes_effect()
    {
        using var f = Functions.Audio();
        var data = new byte[8];
        data[4] = 0x06; // Command = Memory | Bus master
        f.ConfigWrite(0, data);
        f.Command.Should().Be(PciCommand.MemorySpace | PciCommand.BusMaster);
    }

    [Fact]
    public void Statistics_count_bus_accesses()
    {
        using var f = Functions.Audio();
        var b = new byte[4];
        f.ConfigRead(0, b);
        f.ConfigWrite(0x3C, b.AsSpan(0, 1));
        f.BarRead(0, 0, b);
        f.BarWrite(0, 0, b);
        f.Statistics.ConfigReads.Should().Be(1);
        f.Statistics.ConfigWrites.Should().Be(1);
        f.Statistics.BarReads.Should().Be(1);
        f.Statistics.BarWrites.Should().Be(1);
    }

    // ------------------------------------------------------------------ BAR access basics

    [Fact]
    public void Bar_accesses_reach_the_handler_at_bar_relative_offsets()
    {
        var h = new MemoryHandler(16 * 1024);
        using var f = Functions.Audio(h);
        f.BarWrite64(0, 0x30, 4, 0xCAFE_F00D);
        h.Calls.Should().ContainSingle().Which.Should().Be(new MmioCall(true, 0x30, AccessSize.Dword, 0xCAFE_F00D));
        f.BarRead64(0, 0x30, 4).Should().Be(0xCAFE_F00D);
    }

    [Fact]
    public void An_access_no_supported_width_fits_is_refused_reads_all_ones_and_writes_nothing()
    {
        var h = new MemoryHandler(4096, AccessSizes.Dword);
        using var f = Functions.Minimal().MemoryBar(0, "r", 4096, h, AccessSizes.Dword).Build();
        f.BarRead64(0, 0x10, 2).Should().Be(0xFFFF);
        f.BarWrite64(0, 0x10, 2, 0x1234);
        h.Calls.Should().BeEmpty();
        h.Bytes.Should().OnlyContain(b => b == 0);
    }

    [Fact]
    public void Shared_memory_bar_reads_and_writes_the_memory_and_is_cleared_by_function_reset_audio_spec_7()
    {
        using var f = Functions.Audio(sram: true);
        var bar = f.Bars[4]!;
        bar.Memory.Should().NotBeNull();
        bar.MmapAreas.Should().Equal(new MmapArea(0, 4096));

        f.BarWrite64(4, 0x100, 8, 0x0102_0304_0506_0708);
        f.BarRead64(4, 0x100, 8).Should().Be(0x0102_0304_0506_0708);
        var direct = new byte[2];
        bar.Memory!.TryRead(0x100, direct).Should().BeTrue();
        direct.Should().Equal(0x08, 0x07);

        f.Reset(ResetKind.FunctionLevel);
        f.BarRead64(4, 0x100, 8).Should().Be(0);
    }

    [Theory]
    [InlineData(ResetKind.DeviceReset)]
    [InlineData(ResetKind.FunctionLevel)]
    public void Resetting_a_1_GiB_shared_memory_bar_gives_its_pages_back_instead_of_writing_them(ResetKind kind)
    {
        // A 1 GiB SRAM BAR (the schema's largest) was zeroed by writing every byte: DEVICE_RESET took 3.2 s (QEMU
        // waits 5 s for the reply) and committed 1 GiB that stayed resident. Reset punches the whole file out.
        const ulong size = 1UL << 30;
        using var f = Functions.Minimal("big-sram").SharedMemoryBar(2, "sram", size, is64Bit: true, prefetchable: true).Build();
        var memory = f.Bars[2]!.Memory!;
        memory.IsUnallocated.Should().BeTrue("a fresh memfd has no pages");
        foreach (ulong at in new[] { 0UL, size / 2, size - 8 })
        {
            f.BarWrite64(2, at, 8, 0xA5A5_0000_0000_0000 | at);
        }

        memory.IsUnallocated.Should().BeFalse();

        f.Reset(kind);

        memory.IsUnallocated.Should().BeTrue("every page went back to the kernel, none was written");
        foreach (ulong at in new[] { 0UL, size / 2, size - 8 })
        {
            f.BarRead64(2, at, 8).Should().Be(0);
        }
    }
}
