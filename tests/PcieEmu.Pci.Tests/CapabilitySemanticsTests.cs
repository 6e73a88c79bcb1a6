using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Pci.Tests;

/// <summary>What each capability does when the guest writes it.</summary>
public class CapabilitySemanticsTests
{
    private const int Pmc = Functions.Pm + 2;
    private const int Pmcsr = Functions.Pm + 4;
    private const int MsiControl = Functions.Msi + 2;
    private const int MsiAddressLow = Functions.Msi + 4;
    private const int MsiAddressHigh = Functions.Msi + 8;
    private const int MsiData = Functions.Msi + 0xC;
    private const int MsiMask = Functions.Msi + 0x10;
    private const int MsiPending = Functions.Msi + 0x14;
    private const int MsixControl = Functions.Msix + 2;
    private const int DevCap = Functions.Pcie + 4;
    private const int DevCtl = Functions.Pcie + 8;
    private const int DevSta = Functions.Pcie + 0xA;
    private const int AerUncStatus = Functions.Aer + 4;
    private const int AerUncMask = Functions.Aer + 8;
    private const int AerUncSeverity = Functions.Aer + 0xC;
    private const int AerCorStatus = Functions.Aer + 0x10;
    private const int AerCorMask = Functions.Aer + 0x14;
    private const int AerCapControl = Functions.Aer + 0x18;

    // ------------------------------------------------------------------ Power Management (PCI PM 1.2)

    [Fact]
    public void Pm_capabilities_report_version_3_without_D1_D2_or_PME()
    {
        using var f = Functions.Audio();
        f.Cfg16(Pmc).Should().Be(0x0003);
    }

    [Fact]
    public void Pm_no_soft_reset_bit_follows_the_model_README_2()
    {
        using var keep = Functions.Audio(noSoftReset: true);
        using var reset = Functions.Audio(noSoftReset: false);
        keep.Cfg16(Pmcsr).Should().Be(0x0008);
        reset.Cfg16(Pmcsr).Should().Be(0x0000);
    }

    [Fact]
    public void Pm_D0_to_D3hot_and_back()
    {
        using var f = Functions.Audio();
        f.CfgWrite16(Pmcsr, 0x0003);
        f.PowerState.Should().Be(PowerState.D3Hot);
        (f.Cfg16(Pmcsr) & 3).Should().Be(3);
        f.CfgWrite16(Pmcsr, 0x0000);
        f.PowerState.Should().Be(PowerState.D0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Pm_writes_of_unsupported_D1_D2_are_ignored_PCI_PM_1_2_5_4_1(int state)
    {
        using var f = Functions.Audio();
        f.CfgWrite16(Pmcsr, (ushort)state);
        f.PowerState.Should().Be(PowerState.D0);

        f.CfgWrite16(Pmcsr, 3);
        f.CfgWrite16(Pmcsr, (ushort)state);
        f.PowerState.Should().Be(PowerState.D3Hot, "an unsupported state leaves the current one in place");
    }

    [Fact]
    public void Pm_D3hot_to_D0_with_no_soft_reset_clear_resets_the_function()
    {
        using var f = Functions.Audio(noSoftReset: false);
        var kinds = new List<ResetKind>();
        ushort commandSeenByHandler = 0xFFFF;
        f.OnReset(k =>
        {
            kinds.Add(k);
            commandSeenByHandler = f.Config.Get16(PciConfigRegisters.Command);
        });
        f.CfgWrite32(0x18, 0xFEB0_0000);
        f.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);

        f.CfgWrite16(Pmcsr, 3);
        kinds.Should().BeEmpty("entering D3hot is not a reset");

        f.CfgWrite16(Pmcsr, 0);

        kinds.Should().Equal(ResetKind.PowerStateTransition);
        commandSeenByHandler.Should().Be(0, "config space is restored before the device hears of the reset");
        f.Cfg32(0x18).Should().Be(0, "BAR addresses are lost");
        f.PowerState.Should().Be(PowerState.D0);
    }

    [Fact]
    public void Pm_D3hot_to_D0_with_no_soft_reset_set_keeps_state_audio_spec_7()
    {
        using var f = Functions.Audio(noSoftReset: true);
        var kinds = new List<ResetKind>();
        f.OnReset(kinds.Add);
        f.CfgWrite32(0x18, 0xFEB0_0000);
        f.SetCommand(PciCommand.MemorySpace);

        f.CfgWrite16(Pmcsr, 3);
        f.CfgWrite16(Pmcsr, 0);

        kinds.Should().BeEmpty();
        f.Cfg32(0x18).Should().Be(0xFEB0_0000);
        f.Command.Should().Be(PciCommand.MemorySpace);
    }

    [Fact]
    public void Pm_D0_to_D0_does_not_reset()
    {
        using var f = Functions.Audio(noSoftReset: false);
        var kinds = new List<ResetKind>();
        f.OnReset(kinds.Add);
        f.CfgWrite16(Pmcsr, 0);
        kinds.Should().BeEmpty();
    }

    [Fact]
    public void Pm_in_D3hot_bars_read_all_ones_and_drop_writes_but_config_still_works_audio_spec_7()
    {
        var h = new MemoryHandler(16 * 1024);
        h.Bytes[0x30] = 0x5A;
        using var f = Functions.Audio(h);
        f.CfgWrite16(Pmcsr, 3);

        f.BarRead64(0, 0x30, 4).Should().Be(0xFFFF_FFFF);
        f.BarWrite64(0, 0x30, 4, 0x1234_5678);
        f.BarRead64(2, 0, 8).Should().Be(ulong.MaxValue, "the MSI-X table is device memory too");
        h.Calls.Should().BeEmpty();
        f.Cfg16(PciConfigRegisters.VendorId).Should().Be(0x1234);

        f.CfgWrite16(Pmcsr, 0);
        f.BarRead64(0, 0x30, 4).Should().Be(0x5A, "the dropped write did not land");
    }

    // ------------------------------------------------------------------ MSI (PCI 3.0 §6.8.1)

    [Fact]
    public void Msi_control_advertises_capability_and_takes_only_enable_and_mme()
    {
        using var f = Functions.Audio();
        // MMC = log2(4) = 2 in bits 3:1, 64-bit (7), per-vector masking (8)
        f.Cfg16(MsiControl).Should().Be(0x0184);

        f.CfgWrite16(MsiControl, 0xFFFF);
        f.Cfg16(MsiControl).Should().Be(0x01F5, "only Enable (0) and Multiple Message Enable (6:4) are writable");

        var msi = f.Capability<MsiCapability>()!;
        msi.Enabled.Should().BeTrue();
        msi.EnabledVectors.Should().Be(4, "an MME above MMC is clamped to what the function can do");

        f.CfgWrite16(MsiControl, 0x0011); // enable, MME = 1 (2 vectors)
        msi.EnabledVectors.Should().Be(2);
        f.CfgWrite16(MsiControl, 0x0000);
        msi.Enabled.Should().BeFalse();
    }

    [Fact]
    public void Msi_address_is_dword_aligned_and_data_is_16_bits()
    {
        using var f = Functions.Audio();
        f.CfgWrite32(MsiAddressLow, 0xFEE0_1003);
        f.CfgWrite32(MsiAddressHigh, 0x0000_0001);
        f.CfgWrite32(MsiData, 0xFFFF_4041);
        f.Cfg32(MsiAddressLow).Should().Be(0xFEE0_1000);
        f.Cfg32(MsiAddressHigh).Should().Be(1);
        f.Cfg32(MsiData).Should().Be(0x0000_4041, "the upper 16 bits are not implemented here");
    }

    [Fact]
    public void Msi_mask_bits_exist_only_for_capable_vectors_and_pending_is_read_only()
    {
        using var f = Functions.Audio();
        var msi = f.Capability<MsiCapability>()!;
        f.CfgWrite32(MsiMask, 0xFFFF_FFFF);
        f.Cfg32(MsiMask).Should().Be(0xF);
        msi.IsMasked(2).Should().BeTrue();
        f.CfgWrite32(MsiMask, 0x0000_0004);
        msi.IsMasked(2).Should().BeTrue();
        msi.IsMasked(0).Should().BeFalse();

        f.CfgWrite32(MsiPending, 0xFFFF_FFFF);
        f.Cfg32(MsiPending).Should().Be(0);
    }

    [Fact]
    public void Msi_without_per_vector_masking_never_reports_a_vector_masked()
    {
        using var f = Functions.Minimal().Capability(new MsiCapability(2, is64Bit: false, perVectorMask: false)).Build();
        f.Cfg16(0x42).Should().Be(0x0002, "MMC = 1, 32-bit, no per-vector masking");
        f.Capability<MsiCapability>()!.IsMasked(0).Should().BeFalse();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(64)]
    public void Msi_vector_count_must_be_a_power_of_two_up_to_32(int vectors)
    {
        var act = () => new MsiCapability(vectors);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    // ------------------------------------------------------------------ MSI-X (PCI 3.0 §6.8.2)

    [Fact]
    public void Msix_capability_reports_table_size_and_locations_README_2()
    {
        using var f = Functions.Audio();
        f.Cfg16(MsixControl).Should().Be(0x0003, "table size is encoded as N-1");
        f.Cfg32(Functions.Msix + 4).Should().Be(0x0000_0002, "table in BAR2 at 0x000");
        f.Cfg32(Functions.Msix + 8).Should().Be(0x0000_0802, "PBA in BAR2 at 0x800");
    }

    [Fact]
    public void Msix_enable_and_function_mask_are_the_only_writable_control_bits()
    {
        using var f = Functions.Audio();
        var msix = f.Capability<MsixCapability>()!;
        f.CfgWrite16(MsixControl, 0xFFFF);
        f.Cfg16(MsixControl).Should().Be(0xC003);
        msix.Enabled.Should().BeTrue();
        msix.FunctionMasked.Should().BeTrue();
        f.CfgWrite16(MsixControl, 0x8000);
        msix.FunctionMasked.Should().BeFalse();
        f.CfgWrite32(Functions.Msix + 4, 0xFFFF_FFFF);
        f.Cfg32(Functions.Msix + 4).Should().Be(2, "table offset/BIR is read-only");
    }

    [Fact]
    public void Msix_table_entries_start_masked_and_are_read_and_written_through_the_bar_PCI30_6_8_2_9()
    {
        using var f = Functions.Audio();
        var msix = f.Capability<MsixCapability>()!;

        var entry0 = new byte[16];
        f.BarRead(2, 0, entry0);
        entry0.Should().Equal(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0);

        f.BarWrite64(2, 16, 8, 0x0000_0001_FEE0_0000); // entry 1 address, one 8-byte write
        f.BarWrite64(2, 24, 4, 0x4041);                // data
        f.BarWrite64(2, 28, 4, 0);                     // vector control: unmask

        f.BarRead64(2, 16, 8).Should().Be(0x0000_0001_FEE0_0000);
        f.BarRead64(2, 20, 4).Should().Be(1);
        f.BarRead64(2, 24, 2).Should().Be(0x4041);
        msix.TableMaskBit(1).Should().BeFalse();
        msix.TableMaskBit(0).Should().BeTrue();
    }

    [Fact]
    public void Msix_table_is_reset_by_flr()
    {
        using var f = Functions.Audio();
        f.BarWrite64(2, 0, 8, 0xFEE0_0000);
        f.BarWrite64(2, 12, 4, 0);
        f.Reset(ResetKind.FunctionLevel);
        f.BarRead64(2, 0, 8).Should().Be(0);
        f.Capability<MsixCapability>()!.TableMaskBit(0).Should().BeTrue();
    }

    [Fact]
    public void Msix_pba_is_read_only_PCI30_6_8_2_10()
    {
        using var f = Functions.Audio();
        f.BarWrite64(2, 0x800, 8, ulong.MaxValue);
        f.BarRead64(2, 0x800, 8).Should().Be(0);
    }

    [Fact]
    public void Reserved_msix_bar_outside_table_and_pba_reads_all_ones()
    {
        using var f = Functions.Audio();
        f.BarRead64(2, 0x400, 4).Should().Be(0xFFFF_FFFF);
        f.BarRead64(2, 0x808, 8).Should().Be(ulong.MaxValue, "past the one-qword PBA of 4 vectors");
    }

    [Fact]
    public void Msix_constructor_validates_vectors_and_alignment()
    {
        ((Action)(() => new MsixCapability(0, 0, 0, 0, 0x800))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new MsixCapability(2049, 0, 0, 0, 0x8000))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new MsixCapability(4, 0, 4, 0, 0x800))).Should().Throw<ArgumentException>();
        ((Action)(() => new MsixCapability(4, 0, 0, 0, 0x804))).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Msix_pba_size_rounds_up_to_qwords()
    {
        new MsixCapability(64, 0, 0, 0, 0x800).PbaSize.Should().Be(8);
        new MsixCapability(65, 0, 0, 0, 0x800).PbaSize.Should().Be(16);
        new MsixCapability(65, 0, 0, 0, 0x800).TableSize.Should().Be(65 * 16);
    }

    // ------------------------------------------------------------------ PCI Express (PCIe 4.0 §7.5.3)

    [Fact]
    public void Pcie_capability_is_a_v2_endpoint_advertising_flr()
    {
        using var f = Functions.Audio();
        f.Cfg16(Functions.Pcie + 2).Should().Be(0x0002);
        (f.Cfg32(DevCap) & (1u << 28)).Should().NotBe(0, "Function Level Reset Capability");
        f.Cfg16(DevCtl).Should().Be(0x2810);
    }

    [Fact]
    public void Pcie_initiate_flr_resets_the_function_PCIe_6_6_2()
    {
        using var f = Functions.Audio();
        var signals = f.WireAll(IrqIndex.Msix);
        var kinds = new List<ResetKind>();
        ushort commandSeen = 0xFFFF;
        f.OnReset(k =>
        {
            kinds.Add(k);
            commandSeen = f.Config.Get16(PciConfigRegisters.Command);
        });
        f.CfgWrite32(0x10, 0xFE00_0000);
        f.SetCommand(PciCommand.MemorySpace | PciCommand.BusMaster);
        f.CfgWrite16(MsixControl, 0xC000);
        f.Interrupts.Raise(1).Should().Be(InterruptOutcome.Pending);
        f.CfgWrite16(DevCtl, 0x0005); // change something the reset must undo

        f.CfgWrite16(DevCtl, 0x8000 | 0x2810);

        kinds.Should().Equal(ResetKind.FunctionLevel);
        commandSeen.Should().Be(0);
        f.Cfg16(DevCtl).Should().Be(0x2810, "Initiate FLR reads 0 and Device Control is back at its default");
        f.Cfg32(0x10).Should().Be(0x4u);
        f.Cfg16(MsixControl).Should().Be(0x0003);
        f.Interrupts.Mode.Should().Be(InterruptMode.Intx);
        f.Interrupts.IsPending(IrqIndex.Msix, 1).Should().BeFalse();
        f.Interrupts.HasSignal(IrqIndex.Msix, 1).Should().BeTrue("the client's wiring survives an FLR");
        signals[1].Count.Should().Be(0);
    }

    [Fact]
    public void Pcie_without_flr_support_ignores_initiate_flr()
    {
        using var f = Functions.Audio(flr: false);
        var kinds = new List<ResetKind>();
        f.OnReset(kinds.Add);
        (f.Cfg32(DevCap) & (1u << 28)).Should().Be(0);
        f.SetCommand(PciCommand.BusMaster);

        f.CfgWrite16(DevCtl, 0x8000 | 0x2810);

        kinds.Should().BeEmpty();
        f.Cfg16(DevCtl).Should().Be(0x2810);
        f.Command.Should().Be(PciCommand.BusMaster);
    }

    [Fact]
    public void Pcie_device_status_error_bits_are_W1C()
    {
        using var f = Functions.Audio();
        f.Config.Set16(DevSta, 0x000F);
        f.CfgWrite16(DevSta, 0x0005);
        f.Cfg16(DevSta).Should().Be(0x000A);
    }

    [Fact]
    public void Device_reset_also_restores_config_but_the_device_own_reset_does_not()
    {
        using var f = Functions.Audio();
        var kinds = new List<ResetKind>();
        f.OnReset(kinds.Add);
        f.SetCommand(PciCommand.BusMaster);

        f.Reset(ResetKind.Device);
        f.Command.Should().Be(PciCommand.BusMaster, "a device register reset leaves config space alone");

        f.Reset(ResetKind.DeviceReset);
        f.Command.Should().Be(PciCommand.None);
        kinds.Should().Equal(ResetKind.Device, ResetKind.DeviceReset);
        f.Statistics.Resets.Should().Be(2);
    }

    // ------------------------------------------------------------------ AER (PCIe 4.0 §7.8.4)

    [Fact]
    public void Aer_defaults_follow_the_spec()
    {
        using var f = Functions.Audio();
        f.Cfg32(AerUncStatus).Should().Be(0);
        f.Cfg32(AerUncMask).Should().Be(0);
        f.Cfg32(AerUncSeverity).Should().Be(0x0046_2030, "DLP, surprise down, FC protocol, receiver overflow, malformed TLP, internal error are fatal");
        f.Cfg32(AerCorMask).Should().Be(0x0000_2000, "advisory non-fatal is masked by default");
    }

    [Fact]
    public void Aer_mask_and_severity_take_only_implemented_bits()
    {
        using var f = Functions.Audio();
        f.CfgWrite32(AerUncMask, 0xFFFF_FFFF);
        f.Cfg32(AerUncMask).Should().Be(AerCapability.UncorrectableImplemented);
        f.CfgWrite32(AerCorMask, 0xFFFF_FFFF);
        f.Cfg32(AerCorMask).Should().Be(AerCapability.CorrectableImplemented);
        f.CfgWrite32(AerUncSeverity, 0);
        (f.Cfg32(AerUncSeverity) & AerCapability.UncorrectableImplemented).Should().Be(0);
    }

    [Fact]
    public void Aer_report_uncorrectable_sets_status_first_error_pointer_and_signals_err()
    {
        using var f = Functions.Audio();
        var err = f.Wire(IrqIndex.Err);
        var aer = f.Capability<AerCapability>()!;

        aer.ReportUncorrectable(20); // Unsupported Request

        f.Cfg32(AerUncStatus).Should().Be(1u << 20);
        (f.Cfg32(AerCapControl) & 0x1F).Should().Be(20);
        err.Count.Should().Be(1);
        f.Interrupts.DeliveredCount(IrqIndex.Err, 0).Should().Be(1);
        (f.Cfg16(DevSta) & 0x2).Should().Be(0x2, "UR is non-fatal by default: Non-Fatal Error Detected");

        aer.ReportUncorrectable(4); // Data Link Protocol: fatal by default
        (f.Cfg32(AerCapControl) & 0x1F).Should().Be(20, "the first error stays the first while its status bit is set");
        (f.Cfg16(DevSta) & 0x4).Should().Be(0x4, "Fatal Error Detected");
        err.Count.Should().Be(2);
    }

    [Fact]
    public void Aer_uncorrectable_status_is_W1C()
    {
        using var f = Functions.Audio();
        var aer = f.Capability<AerCapability>()!;
        aer.ReportUncorrectable(12);
        aer.ReportUncorrectable(14);

        f.CfgWrite32(AerUncStatus, 1u << 12);
        f.Cfg32(AerUncStatus).Should().Be(1u << 14);
        aer.UncorrectableStatusBits.Should().Be(1u << 14);
    }

    [Fact]
    public void Aer_masked_uncorrectable_error_sets_status_but_does_not_signal()
    {
        using var f = Functions.Audio();
        var err = f.Wire(IrqIndex.Err);
        f.CfgWrite32(AerUncMask, 1u << 20);

        f.Capability<AerCapability>()!.ReportUncorrectable(20);

        f.Cfg32(AerUncStatus).Should().Be(1u << 20, "masking does not affect the status register");
        err.Count.Should().Be(0);
    }

    [Fact]
    public void Aer_masked_error_does_not_update_the_first_error_pointer_PCIe_6_2_3_2_2()
    {
        using var f = Functions.Audio();
        f.CfgWrite32(AerUncMask, 1u << 14);
        var aer = f.Capability<AerCapability>()!;

        aer.ReportUncorrectable(14); // masked
        aer.ReportUncorrectable(20); // unmasked, so the first *reported* error

        (f.Cfg32(AerCapControl) & 0x1F).Should().Be(20);
    }

    [Fact]
    public void Aer_first_error_pointer_moves_on_once_software_clears_the_error_it_names()
    {
        using var f = Functions.Audio();
        var aer = f.Capability<AerCapability>()!;
        aer.ReportUncorrectable(12);
        aer.ReportUncorrectable(14);
        f.CfgWrite32(AerUncStatus, 1u << 12); // software handles the first error; 14 is still set

        aer.ReportUncorrectable(16);

        (f.Cfg32(AerCapControl) & 0x1F).Should().Be(16);
    }

    [Fact]
    public void Aer_masked_errors_still_set_device_status_PCIe_7_5_3_5()
    {
        // "For a Function with AER, errors are logged in this register regardless of the settings of the
        // (Un)correctable Error Mask register."
        using var f = Functions.Audio();
        f.CfgWrite32(AerUncMask, 1u << 20);
        var aer = f.Capability<AerCapability>()!;

        aer.ReportUncorrectable(20);
        aer.ReportCorrectable(13); // advisory non-fatal, masked by default

        (f.Cfg16(DevSta) & 0x3).Should().Be(0x3);
    }

    [Fact]
    public void Aer_correctable_errors_set_status_and_device_status()
    {
        using var f = Functions.Audio();
        var err = f.Wire(IrqIndex.Err);
        var aer = f.Capability<AerCapability>()!;

        aer.ReportCorrectable(6); // Bad TLP

        f.Cfg32(AerCorStatus).Should().Be(1u << 6);
        aer.CorrectableStatusBits.Should().Be(1u << 6);
        (f.Cfg16(DevSta) & 0x1).Should().Be(1);
        err.Count.Should().Be(0, "the ERR eventfd is for uncorrectable errors");
        f.CfgWrite32(AerCorStatus, 1u << 6);
        f.Cfg32(AerCorStatus).Should().Be(0);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(22)]
    [InlineData(31)]
    public void Aer_rejects_unimplemented_uncorrectable_bits(int bit)
    {
        using var f = Functions.Audio();
        var act = () => f.Capability<AerCapability>()!.ReportUncorrectable(bit);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    // ------------------------------------------------------------------ DSN (PCIe 4.0 §7.9.3)

    [Fact]
    public void Dsn_holds_the_serial_number_little_endian_and_read_only()
    {
        using var f = Functions.Audio();
        f.Cfg32(Functions.Dsn + 4).Should().Be(0x4455_6677);
        f.Cfg32(Functions.Dsn + 8).Should().Be(0x0011_2233);
        f.CfgWrite32(Functions.Dsn + 4, 0);
        f.Cfg32(Functions.Dsn + 4).Should().Be(0x4455_6677);
        f.Capability<DeviceSerialNumberCapability>()!.SerialNumber.Should().Be(Functions.SerialNumber);
    }
}
