using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Tests;

namespace PcieEmu.Devices.Tests;

/// <summary>Spec §5: causes, vectors, MSI-X / MSI edge semantics, INTx level semantics, masking and INTCNT.</summary>
public sealed class AudioCardInterruptTests : IDisposable
{
    private readonly CardHarness _h = new();

    public void Dispose() => _h.Dispose();

    private int[] Counts(CountingSignal[] signals) => [.. signals.Select(s => s.Count)];

    [Fact]
    public void Msix_enable_through_config_space_selects_msix_mode()
    {
        _h.F.Interrupts.Mode.Should().Be(InterruptMode.Intx, "INTx until the driver enables something");
        _h.EnableMsix();
        _h.F.Interrupts.Mode.Should().Be(InterruptMode.Msix);
    }

    [Fact]
    public void Diag_irq_with_inten_diag_sends_exactly_one_message_per_write_on_its_vector()
    {
        var s = _h.EnableMsix();
        _h.Write32(Spec.INTEN, Spec.IntDiag);

        _h.Write32(Spec.DIAG_IRQ, 2);
        Counts(s).Should().Equal(0, 0, 1, 0);
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDiag);

        _h.Write32(Spec.DIAG_IRQ, 2); // INTSTS.DIAG is still set: edge semantics still send one
        _h.Write32(Spec.DIAG_IRQ, 2);
        Counts(s).Should().Equal(0, 0, 3, 0);

        _h.Write32(Spec.DIAG_IRQ, 0);
        Counts(s).Should().Equal(1, 0, 3, 0);
        _h.Read32(Spec.INTCNT).Should().Be(4u, "INTCNT counts every message requested");
        _h.Card.InterruptEvents.Should().Be(4);
    }

    [Fact]
    public void Diag_irq_without_inten_sets_status_only_and_enabling_later_sends_one_message()
    {
        var s = _h.EnableMsix();

        _h.Write32(Spec.DIAG_IRQ, 1);
        _h.Write32(Spec.DIAG_IRQ, 1);
        Counts(s).Should().Equal(0, 0, 0, 0);
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDiag);
        _h.Read32(Spec.INTCNT).Should().Be(0u);

        _h.Write32(Spec.INTEN, Spec.IntDiag);
        Counts(s).Should().Equal(0, 1, 0, 0);
        _h.Read32(Spec.INTCNT).Should().Be(1u);

        _h.Write32(Spec.INTEN, Spec.IntDiag); // already enabled: not a new enable
        Counts(s).Should().Equal(0, 1, 0, 0);
    }

    [Fact]
    public void Enabling_a_cause_whose_status_is_clear_sends_nothing()
    {
        var s = _h.EnableMsix();
        _h.Write32(Spec.DIAG_IRQ, 3);
        _h.Write32(Spec.INTSTS, Spec.IntDiag);

        _h.Write32(Spec.INTEN, Spec.IntDiag | Spec.IntDmaDone | Spec.IntDmaErr);

        Counts(s).Should().Equal(0, 0, 0, 0);
        _h.Read32(Spec.INTCNT).Should().Be(0u);
    }

    [Fact]
    public void Acknowledged_status_is_not_re_signalled_by_re_enabling()
    {
        var s = _h.EnableMsix();
        _h.Write32(Spec.INTEN, Spec.IntDiag);
        _h.Write32(Spec.DIAG_IRQ, 0);
        _h.Write32(Spec.INTSTS, _h.Read32(Spec.INTSTS)); // spec §8.7: write back the bits read
        _h.Read32(Spec.INTSTS).Should().Be(0u);

        _h.Write32(Spec.INTEN, 0);
        _h.Write32(Spec.INTEN, Spec.IntDiag);

        Counts(s).Should().Equal(1, 0, 0, 0);
    }

    [Theory]
    [InlineData(0u, 0)]
    [InlineData(3u, 3)]
    [InlineData(4u, 0)]
    [InlineData(6u, 2)]
    [InlineData(7u, 3)]
    [InlineData(13u, 1)]
    [InlineData(255u, 3)]
    public void Msix_vectors_at_or_above_nvec_fold_modulo_nvec(uint vector, int expected)
    {
        var s = _h.EnableMsix();
        s.Should().HaveCount(4, "NVEC of the default model");
        _h.Write32(Spec.INTEN, Spec.IntDiag);

        _h.Write32(Spec.DIAG_IRQ, vector);

        var want = new int[4];
        want[expected] = 1;
        Counts(s).Should().Equal(want);
    }

    [Fact]
    public void Only_the_vector_field_of_diag_irq_selects_the_vector()
    {
        var s = _h.EnableMsix();
        _h.Write32(Spec.INTEN, Spec.IntDiag);

        _h.Write32(Spec.DIAG_IRQ, 0xFFFF_FF01); // bits above [7:0] are reserved

        Counts(s).Should().Equal(0, 1, 0, 0);
    }

    [Fact]
    public void Msix_function_mask_holds_the_message_pending_and_unmasking_delivers_it_once()
    {
        var s = _h.EnableMsix();
        _h.Write32(Spec.INTEN, Spec.IntDiag);
        _h.WriteCfg16(Spec.MsixControl, (ushort)(_h.Cfg16(Spec.MsixControl) | 0x4000)); // Function Mask

        _h.Write32(Spec.DIAG_IRQ, 1);
        _h.Write32(Spec.DIAG_IRQ, 1);

        Counts(s).Should().Equal(0, 0, 0, 0);
        _h.Read64(0x800, bar: 2).Should().Be(0x2UL, "PBA bit 1 pending");
        _h.Read32(Spec.INTCNT).Should().Be(2u, "INTCNT counts messages held pending too");

        _h.WriteCfg16(Spec.MsixControl, (ushort)(_h.Cfg16(Spec.MsixControl) & ~0x4000));

        Counts(s).Should().Equal(0, 1, 0, 0);
        _h.Read64(0x800, bar: 2).Should().Be(0UL);
    }

    [Fact]
    public void A_vector_masked_by_the_client_is_held_pending_until_unmasked()
    {
        var s = _h.EnableMsix();
        _h.Write32(Spec.INTEN, Spec.IntDiag);
        _h.F.Interrupts.SetMasked(IrqIndex.Msix, 3, 1, masked: true);

        _h.Write32(Spec.DIAG_IRQ, 3);
        _h.Write32(Spec.DIAG_IRQ, 2);
        Counts(s).Should().Equal(0, 0, 1, 0);
        _h.Read64(0x800, bar: 2).Should().Be(0x8UL);

        _h.F.Interrupts.SetMasked(IrqIndex.Msix, 3, 1, masked: false);
        Counts(s).Should().Equal(0, 0, 1, 1);
    }

    [Fact]
    public void Msix_wins_over_msi()
    {
        var msi = _h.EnableMsi(mmeLog2: 2);
        var msix = _h.EnableMsix();
        _h.Write32(Spec.INTEN, Spec.IntDiag);

        _h.Write32(Spec.DIAG_IRQ, 1);

        Counts(msix).Should().Equal(0, 1, 0, 0);
        Counts(msi).Should().Equal(0, 0, 0, 0);
    }

    [Fact]
    public void Msi_with_four_messages_enabled_folds_modulo_four()
    {
        var s = _h.EnableMsi(mmeLog2: 2);
        _h.F.Interrupts.Mode.Should().Be(InterruptMode.Msi);
        _h.Write32(Spec.INTEN, Spec.IntDiag);

        foreach (uint v in new uint[] { 0, 1, 2, 3, 4, 5, 6, 7, 255 })
        {
            _h.Write32(Spec.DIAG_IRQ, v);
        }

        Counts(s).Should().Equal(2, 2, 2, 3);
        _h.Read32(Spec.INTCNT).Should().Be(9u);
    }

    [Fact]
    public void Msi_with_one_message_enabled_sends_everything_on_vector_0()
    {
        var s = _h.EnableMsi(mmeLog2: 0);
        _h.Write32(Spec.INTEN, Spec.IntDiag);

        foreach (uint v in new uint[] { 0, 1, 2, 3, 200 })
        {
            _h.Write32(Spec.DIAG_IRQ, v);
        }

        Counts(s).Should().Equal(5, 0, 0, 0);
    }

    [Fact]
    public void Msi_per_vector_mask_holds_a_pending_bit_until_unmasked()
    {
        var s = _h.EnableMsi(mmeLog2: 2);
        _h.Write32(Spec.INTEN, Spec.IntDiag);
        _h.WriteCfg32(Spec.MsiMask, 1u << 2);

        _h.Write32(Spec.DIAG_IRQ, 2);
        Counts(s).Should().Equal(0, 0, 0, 0);
        _h.Cfg32(Spec.MsiMask + 4).Should().Be(1u << 2, "Pending Bits");
        _h.Read32(Spec.INTCNT).Should().Be(1u);

        _h.WriteCfg32(Spec.MsiMask, 0);
        Counts(s).Should().Equal(0, 0, 1, 0);
        _h.Cfg32(Spec.MsiMask + 4).Should().Be(0u);
    }

    [Fact]
    public void Intx_level_follows_intsts_and_inten_and_status_mirrors_it()
    {
        var intx = _h.EnableIntx();
        _h.F.Interrupts.Mode.Should().Be(InterruptMode.Intx);
        bool StatusBit() => (_h.Cfg16(Spec.CfgStatus) & Spec.StsInterrupt) != 0;

        _h.Write32(Spec.DIAG_IRQ, 0);
        StatusBit().Should().BeFalse("INTSTS.DIAG is set but not enabled");
        intx.Count.Should().Be(0);

        _h.Write32(Spec.INTEN, Spec.IntDiag);
        StatusBit().Should().BeTrue("INTSTS & INTEN ≠ 0");
        _h.F.Interrupts.IntxLevel.Should().BeTrue();
        intx.Count.Should().Be(1, "the assertion is signalled");
        _h.Read32(Spec.INTCNT).Should().Be(1u, "one rising edge");

        _h.Write32(Spec.DIAG_IRQ, 0); // still asserted: no new edge
        _h.Read32(Spec.INTCNT).Should().Be(1u);

        _h.Write32(Spec.INTSTS, Spec.IntDiag);
        StatusBit().Should().BeFalse("acknowledged");
        _h.F.Interrupts.IntxLevel.Should().BeFalse();

        _h.F.Interrupts.SetMasked(IrqIndex.Intx, 0, 1, masked: false); // the client's end of interrupt
        _h.Write32(Spec.DIAG_IRQ, 3);
        StatusBit().Should().BeTrue();
        intx.Count.Should().Be(2);
        _h.Read32(Spec.INTCNT).Should().Be(2u);

        _h.Write32(Spec.INTEN, 0);
        StatusBit().Should().BeFalse("disabling the cause lowers the level");
    }

    [Fact]
    public void Intx_is_not_signalled_while_command_interrupt_disable_is_set_but_status_still_mirrors_the_level()
    {
        var intx = _h.EnableIntx();
        _h.SetCommand(Spec.CmdMemory | Spec.CmdBusMaster | Spec.CmdIntxDisable);
        _h.Write32(Spec.INTEN, Spec.IntDiag);

        _h.Write32(Spec.DIAG_IRQ, 0);

        intx.Count.Should().Be(0);
        (_h.Cfg16(Spec.CfgStatus) & Spec.StsInterrupt).Should().Be(Spec.StsInterrupt);
    }

    [Fact]
    public void Message_modes_do_not_drive_intx()
    {
        var intx = new CountingSignal();
        _h.F.Interrupts.AssignOwned(IrqIndex.Intx, 0, intx);
        var s = _h.EnableMsix();
        _h.Write32(Spec.INTEN, Spec.IntDiag);

        _h.Write32(Spec.DIAG_IRQ, 0);

        s[0].Count.Should().Be(1);
        intx.Count.Should().Be(0);
        _h.Read32(Spec.INTCNT).Should().Be(1u, "one event: the message, not a level edge too");
    }
}
