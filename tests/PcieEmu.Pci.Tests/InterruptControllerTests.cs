using PcieEmu.Pci.Config;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Pci.Tests;

/// <summary>
/// INTx level, MSI and MSI-X through one controller (style.md §3.4; audio spec §5). Driven through config
/// space as a guest would, with counting fake signals standing in for the client's eventfds.
/// </summary>
public class InterruptControllerTests
{
    private const int MsiControl = Functions.Msi + 2;
    private const int MsiMask = Functions.Msi + 0x10;
    private const int MsiPending = Functions.Msi + 0x14;
    private const int MsixControl = Functions.Msix + 2;
    private const ushort MsixEnable = 0x8000;
    private const ushort MsixFunctionMask = 0x4000;

    /// <summary>The audio function with bus mastering on: MSI and MSI-X are memory writes and need it (PCI 3.0 §6.8).</summary>
    private static PciFunction BusMasterAudio()
    {
        var f = Functions.Audio();
        f.SetCommand(PciCommand.BusMaster);
        return f;
    }

    // ------------------------------------------------------------------ delivery gates

    [Fact]
    public void Messages_wait_in_the_pending_bits_while_bus_mastering_is_off_and_go_out_when_it_is_on_PCI30_6_8()
    {
        using var f = BusMasterAudio();
        var msix = f.WireAll(IrqIndex.Msix);
        f.CfgWrite16(MsixControl, MsixEnable);
        f.SetCommand(PciCommand.None);

        f.Interrupts.Raise(1).Should().Be(InterruptOutcome.Pending);
        msix[1].Count.Should().Be(0);
        f.Interrupts.IsPending(IrqIndex.Msix, 1).Should().BeTrue();

        f.SetCommand(PciCommand.BusMaster);
        msix[1].Count.Should().Be(1, "re-enabling bus mastering sends the held message once");
        f.Interrupts.IsPending(IrqIndex.Msix, 1).Should().BeFalse();
    }

    [Fact]
    public void In_D3hot_neither_messages_nor_intx_are_sent_and_both_resume_in_D0_PCI_PM_5_3()
    {
        using var f = BusMasterAudio();
        var msix = f.WireAll(IrqIndex.Msix);
        var intx = f.WireAll(IrqIndex.Intx)[0];
        const int pmcsr = Functions.Pm + 4;
        f.CfgWrite16(pmcsr, 3);

        f.Interrupts.SetIntxLevel(true);
        intx.Count.Should().Be(0, "INTA# cannot assert in D3hot");
        f.CfgWrite16(pmcsr, 0);
        intx.Count.Should().Be(1, "back in D0 the still-asserted line is signalled");

        f.CfgWrite16(MsixControl, MsixEnable);
        f.CfgWrite16(pmcsr, 3);
        f.Interrupts.Raise(2).Should().Be(InterruptOutcome.Pending);
        f.CfgWrite16(pmcsr, 0);
        msix[2].Count.Should().Be(1);
    }

    // ------------------------------------------------------------------ INTx

    [Fact]
    public void Intx_assertion_signals_once_and_stays_auto_masked_until_the_client_unmasks()
    {
        using var f = BusMasterAudio();
        var intx = f.WireAll(IrqIndex.Intx)[0];

        f.Interrupts.SetIntxLevel(true);
        intx.Count.Should().Be(1);
        f.Interrupts.SetIntxLevel(true);
        f.Interrupts.SetIntxLevel(false);
        f.Interrupts.SetIntxLevel(true);
        intx.Count.Should().Be(1, "auto-masked: no further signal before the client's end of interrupt");

        f.Interrupts.SetMasked(IrqIndex.Intx, 0, 1, masked: false);
        intx.Count.Should().Be(2, "unmask with the line still asserted re-signals");
    }

    [Fact]
    public void Intx_unmask_after_deassertion_does_not_signal()
    {
        using var f = BusMasterAudio();
        var intx = f.WireAll(IrqIndex.Intx)[0];
        f.Interrupts.SetIntxLevel(true);
        f.Interrupts.SetIntxLevel(false);

        f.Interrupts.SetMasked(IrqIndex.Intx, 0, 1, masked: false);
        intx.Count.Should().Be(1);

        f.Interrupts.SetIntxLevel(true);
        intx.Count.Should().Be(2, "a fresh assertion after the EOI signals again");
    }

    [Fact]
    public void Intx_client_mask_holds_the_signal_until_unmask()
    {
        using var f = BusMasterAudio();
        var intx = f.WireAll(IrqIndex.Intx)[0];
        f.Interrupts.SetMasked(IrqIndex.Intx, 0, 1, masked: true);
        f.Interrupts.IsClientMasked(IrqIndex.Intx, 0).Should().BeTrue();

        f.Interrupts.SetIntxLevel(true);
        intx.Count.Should().Be(0);

        f.Interrupts.SetMasked(IrqIndex.Intx, 0, 1, masked: false);
        intx.Count.Should().Be(1);
    }

    [Fact]
    public void Status_interrupt_status_mirrors_the_intx_level_PCI30_6_2_3()
    {
        using var f = BusMasterAudio();
        f.Interrupts.SetIntxLevel(true);
        (f.Cfg16(PciConfigRegisters.Status) & (ushort)PciStatus.InterruptStatus).Should().NotBe(0);
        f.Interrupts.IntxLevel.Should().BeTrue();
        f.Interrupts.SetIntxLevel(false);
        (f.Cfg16(PciConfigRegisters.Status) & (ushort)PciStatus.InterruptStatus).Should().Be(0);
    }

    [Fact]
    public void Command_interrupt_disable_suppresses_intx_but_status_still_shows_it_PCI30_6_2_2()
    {
        using var f = BusMasterAudio();
        var intx = f.WireAll(IrqIndex.Intx)[0];
        f.SetCommand(PciCommand.InterruptDisable);

        f.Interrupts.SetIntxLevel(true);

        intx.Count.Should().Be(0);
        (f.Cfg16(PciConfigRegisters.Status) & (ushort)PciStatus.InterruptStatus).Should().NotBe(0);

        f.SetCommand(PciCommand.None);
        intx.Count.Should().Be(1, "clearing Interrupt Disable with the line asserted delivers it");
    }

    [Fact]
    public void Intx_asserted_before_any_signal_is_wired_is_delivered_once_the_client_wires_one()
    {
        using var f = BusMasterAudio();
        f.Interrupts.SetIntxLevel(true);

        var intx = f.WireAll(IrqIndex.Intx)[0];

        intx.Count.Should().Be(1, "nothing was delivered before, so nothing should have been auto-masked");
    }

    [Fact]
    public void Intx_level_does_not_signal_in_message_modes()
    {
        using var f = BusMasterAudio();
        var intx = f.WireAll(IrqIndex.Intx)[0];
        f.CfgWrite16(MsiControl, 0x0001);
        f.Interrupts.SetIntxLevel(true);
        intx.Count.Should().Be(0);
        (f.Cfg16(PciConfigRegisters.Status) & (ushort)PciStatus.InterruptStatus).Should().NotBe(0, "Interrupt Status follows the level in every mode");
    }

    [Fact]
    public void Raise_in_intx_mode_is_not_a_message()
    {
        using var f = BusMasterAudio();
        f.Interrupts.Raise(0).Should().Be(InterruptOutcome.NotMessageMode);
    }

    // ------------------------------------------------------------------ mode selection

    [Fact]
    public void Mode_is_msix_over_msi_over_intx_by_config_enable_bits()
    {
        using var f = BusMasterAudio();
        f.Interrupts.Mode.Should().Be(InterruptMode.Intx);

        f.CfgWrite16(MsiControl, 0x0001);
        f.Interrupts.Mode.Should().Be(InterruptMode.Msi);

        f.CfgWrite16(MsixControl, MsixEnable);
        f.Interrupts.Mode.Should().Be(InterruptMode.Msix);

        f.CfgWrite16(MsixControl, 0);
        f.Interrupts.Mode.Should().Be(InterruptMode.Msi);

        f.CfgWrite16(MsiControl, 0);
        f.Interrupts.Mode.Should().Be(InterruptMode.Intx);
    }

    [Fact]
    public void Vector_counts_follow_the_capabilities()
    {
        using var f = BusMasterAudio();
        f.Interrupts.VectorCount(IrqIndex.Intx).Should().Be(1);
        f.Interrupts.VectorCount(IrqIndex.Msi).Should().Be(4);
        f.Interrupts.VectorCount(IrqIndex.Msix).Should().Be(4);
        f.Interrupts.VectorCount(IrqIndex.Err).Should().Be(1);
        f.Interrupts.VectorCount(IrqIndex.Req).Should().Be(1);

        using var bare = Functions.Minimal().Build();
        bare.Interrupts.VectorCount(IrqIndex.Msi).Should().Be(0);
        bare.Interrupts.VectorCount(IrqIndex.Msix).Should().Be(0);
    }

    // ------------------------------------------------------------------ MSI-X

    [Fact]
    public void Msix_raise_delivers_to_the_vector_signal()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msix);
        f.CfgWrite16(MsixControl, MsixEnable);

        f.Interrupts.Raise(2).Should().Be(InterruptOutcome.Delivered);

        s.Select(x => x.Count).Should().Equal(0, 0, 1, 0);
        f.Interrupts.DeliveredCount(IrqIndex.Msix, 2).Should().Be(1);
    }

    [Fact]
    public void Msix_vectors_beyond_the_table_fold_modulo_its_size_audio_spec_5()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msix);
        f.CfgWrite16(MsixControl, MsixEnable);

        f.Interrupts.Raise(5);
        f.Interrupts.Raise(7);
        f.Interrupts.Raise(8);

        s.Select(x => x.Count).Should().Equal(1, 1, 0, 1);
    }

    [Fact]
    public void Msix_function_mask_holds_the_message_pending_in_the_pba_and_unmask_delivers_it_once()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msix);
        f.CfgWrite16(MsixControl, MsixEnable | MsixFunctionMask);

        f.Interrupts.Raise(2).Should().Be(InterruptOutcome.Pending);
        f.Interrupts.Raise(2).Should().Be(InterruptOutcome.Pending);

        s[2].Count.Should().Be(0);
        f.Interrupts.IsPending(IrqIndex.Msix, 2).Should().BeTrue();
        f.BarRead64(2, 0x800, 8).Should().Be(1UL << 2);
        f.BarRead64(2, 0x800, 1).Should().Be(1UL << 2, "a byte read of the PBA sees the same bit");

        f.CfgWrite16(MsixControl, MsixEnable);

        s[2].Count.Should().Be(1, "a pending bit delivers once however many raises it absorbed");
        f.Interrupts.IsPending(IrqIndex.Msix, 2).Should().BeFalse();
        f.BarRead64(2, 0x800, 8).Should().Be(0);
    }

    [Fact]
    public void Msix_client_masked_vector_is_pending_until_the_client_unmasks_it()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msix);
        f.CfgWrite16(MsixControl, MsixEnable);
        f.Interrupts.SetMasked(IrqIndex.Msix, 1, 1, masked: true);

        f.Interrupts.Raise(1).Should().Be(InterruptOutcome.Pending);
        f.Interrupts.Raise(3).Should().Be(InterruptOutcome.Delivered, "only vector 1 is masked");
        f.BarRead64(2, 0x800, 8).Should().Be(1UL << 1);

        f.Interrupts.SetMasked(IrqIndex.Msix, 1, 1, masked: false);

        s.Select(x => x.Count).Should().Equal(0, 1, 0, 1);
        f.BarRead64(2, 0x800, 8).Should().Be(0);
    }

    [Fact]
    public void Msix_vector_without_a_signal_is_pending_until_one_is_assigned()
    {
        using var f = BusMasterAudio();
        f.CfgWrite16(MsixControl, MsixEnable);

        f.Interrupts.Raise(3).Should().Be(InterruptOutcome.Pending);
        f.Interrupts.HasSignal(IrqIndex.Msix, 3).Should().BeFalse();

        var s = f.Wire(IrqIndex.Msix, 3);

        s.Count.Should().Be(1);
        f.Interrupts.IsPending(IrqIndex.Msix, 3).Should().BeFalse();
    }

    [Fact]
    public void Msix_pending_bits_wait_while_msix_is_disabled_and_deliver_when_it_is_enabled()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msix);
        f.CfgWrite16(MsixControl, MsixEnable | MsixFunctionMask);
        f.Interrupts.Raise(0);
        f.CfgWrite16(MsixControl, 0);
        s[0].Count.Should().Be(0);

        f.CfgWrite16(MsixControl, MsixEnable);
        s[0].Count.Should().Be(1);
    }

    [Fact]
    public void Delivered_event_reports_index_and_vector()
    {
        using var f = BusMasterAudio();
        f.WireAll(IrqIndex.Msix);
        f.CfgWrite16(MsixControl, MsixEnable);
        var seen = new List<(IrqIndex, int)>();
        f.Interrupts.Delivered += (i, v) => seen.Add((i, v));

        f.Interrupts.Raise(3);

        seen.Should().Equal((IrqIndex.Msix, 3));
    }

    [Fact]
    public void A_failing_signal_is_not_counted_as_delivered()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msix);
        s[0].Fail = true;
        f.CfgWrite16(MsixControl, MsixEnable);

        f.Interrupts.Raise(0);

        f.Interrupts.DeliveredCount(IrqIndex.Msix, 0).Should().Be(0);
    }

    // ------------------------------------------------------------------ MSI

    [Fact]
    public void Msi_raise_folds_modulo_the_enabled_vector_count_audio_spec_5()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msi);
        f.CfgWrite16(MsiControl, 0x0011); // enable, MME = 1: two vectors

        f.Interrupts.Raise(3).Should().Be(InterruptOutcome.Delivered);
        f.Interrupts.Raise(2).Should().Be(InterruptOutcome.Delivered);

        s.Select(x => x.Count).Should().Equal(1, 1, 0, 0);
    }

    [Fact]
    public void Msi_with_one_enabled_vector_sends_everything_on_vector_0()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msi);
        f.CfgWrite16(MsiControl, 0x0001);
        f.Interrupts.Raise(3);
        f.Interrupts.Raise(1);
        s[0].Count.Should().Be(2);
    }

    [Fact]
    public void Msi_per_vector_mask_holds_pending_bits_mirrored_in_config_PCI30_6_8_1_7()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msi);
        f.CfgWrite16(MsiControl, 0x0021); // enable, MME = 2: four vectors
        f.CfgWrite32(MsiMask, 0b0010);

        f.Interrupts.Raise(1).Should().Be(InterruptOutcome.Pending);
        f.Interrupts.Raise(2).Should().Be(InterruptOutcome.Delivered);

        f.Cfg32(MsiPending).Should().Be(0b0010);
        f.Interrupts.IsPending(IrqIndex.Msi, 1).Should().BeTrue();
        s[1].Count.Should().Be(0);

        f.CfgWrite32(MsiMask, 0);

        s[1].Count.Should().Be(1);
        f.Cfg32(MsiPending).Should().Be(0);
        f.Interrupts.IsPending(IrqIndex.Msi, 1).Should().BeFalse();
    }

    [Fact]
    public void Msi_client_mask_also_holds_pending()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msi);
        f.CfgWrite16(MsiControl, 0x0001);
        f.Interrupts.SetMasked(IrqIndex.Msi, 0, 1, masked: true);

        f.Interrupts.Raise(0).Should().Be(InterruptOutcome.Pending);
        f.Interrupts.SetMasked(IrqIndex.Msi, 0, 1, masked: false);

        s[0].Count.Should().Be(1);
    }

    // ------------------------------------------------------------------ client side

    [Fact]
    public void Inject_signals_the_vector_as_the_device_would()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msix);
        f.Interrupts.Inject(IrqIndex.Msix, 3);
        s[3].Count.Should().Be(1);
        f.Interrupts.DeliveredCount(IrqIndex.Msix, 3).Should().Be(1);

        var act = () => f.Interrupts.Inject(IrqIndex.Msix, 4);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Assign_replacing_a_signal_disposes_the_old_one()
    {
        using var f = BusMasterAudio();
        var first = f.WireAll(IrqIndex.Msix);
        var replacement = f.Wire(IrqIndex.Msix, 1);
        first[1].Disposed.Should().BeTrue();
        first[0].Disposed.Should().BeFalse();

        f.Interrupts.Assign(IrqIndex.Msix, 1, [null]);
        replacement.Disposed.Should().BeTrue();
        f.Interrupts.HasSignal(IrqIndex.Msix, 1).Should().BeFalse();
    }

    [Fact]
    public void Assign_and_mask_reject_ranges_beyond_the_vector_count()
    {
        using var f = BusMasterAudio();
        var assign = () => f.Interrupts.Assign(IrqIndex.Msix, 3, [new FakeSignal(), new FakeSignal()]);
        assign.Should().Throw<ArgumentOutOfRangeException>();
        var mask = () => f.Interrupts.SetMasked(IrqIndex.Msi, 2, 3, masked: true);
        mask.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void DisableAll_drops_and_disposes_every_signal_of_the_index_and_clears_its_masks()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msix);
        f.CfgWrite16(MsixControl, MsixEnable);
        f.Interrupts.SetMasked(IrqIndex.Msix, 0, 4, masked: true);

        f.Interrupts.DisableAll(IrqIndex.Msix);

        s.Should().OnlyContain(x => x.Disposed);
        f.Interrupts.HasSignal(IrqIndex.Msix, 0).Should().BeFalse();
        f.Interrupts.IsClientMasked(IrqIndex.Msix, 0).Should().BeFalse();
        f.Interrupts.Raise(0).Should().Be(InterruptOutcome.Pending, "no signal to deliver to");
        s[0].Count.Should().Be(0);
    }

    [Fact]
    public void Dispose_of_the_function_releases_the_client_signals()
    {
        var f = Functions.Audio();
        var s = f.WireAll(IrqIndex.Msi);
        f.Dispose();
        s.Should().OnlyContain(x => x.Disposed);
    }

    [Fact]
    public void Reset_clears_pending_bits_client_masks_and_the_intx_level()
    {
        using var f = BusMasterAudio();
        var s = f.WireAll(IrqIndex.Msix);
        var intx = f.WireAll(IrqIndex.Intx)[0];
        f.CfgWrite16(MsixControl, MsixEnable | MsixFunctionMask);
        f.Interrupts.SetMasked(IrqIndex.Msix, 2, 1, masked: true);
        f.Interrupts.Raise(0);

        f.Interrupts.Reset();

        f.Interrupts.IsPending(IrqIndex.Msix, 0).Should().BeFalse();
        f.Interrupts.IsClientMasked(IrqIndex.Msix, 2).Should().BeFalse();
        f.Interrupts.IntxLevel.Should().BeFalse();

        // Nothing left over is delivered once the function is usable again.
        f.CfgWrite16(MsixControl, MsixEnable);
        s[0].Count.Should().Be(0);
        intx.Count.Should().Be(0);
    }

    [Fact]
    public void Err_and_req_indices_signal_their_own_eventfds()
    {
        using var f = BusMasterAudio();
        var err = f.Wire(IrqIndex.Err);
        var req = f.Wire(IrqIndex.Req);

        f.Interrupts.SignalError();
        f.Interrupts.SignalRequest();
        f.Interrupts.SignalRequest();

        err.Count.Should().Be(1);
        req.Count.Should().Be(2);
    }
}
