using PcieEmu.Devices.Models;
using PcieEmu.Pci;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Devices.Tests;

/// <summary>Spec §7: GCTL.RESET, DEVICE_RESET and FLR reset the card; client loss and D3hot→D0 do not.</summary>
public sealed class AudioCardResetTests : IDisposable
{
    private const ulong Iova = 0x0000_0040_0000_0000;
    private const uint Bar0Address = 0xFE80_0000;
    private readonly CardHarness _h = new();

    public void Dispose() => _h.Dispose();

    public enum Kind
    {
        Gctl,
        DeviceReset,
        Flr,
    }

    private void Reset(Kind kind)
    {
        switch (kind)
        {
            case Kind.Gctl:
                _h.Write32(Spec.GCTL, 1);
                break;
            case Kind.DeviceReset:
                _h.F.Reset(ResetKind.DeviceReset);
                break;
            case Kind.Flr:
                _h.WriteCfg16(Spec.PcieDevCtl, (ushort)(_h.Cfg16(Spec.PcieDevCtl) | 0x8000)); // Initiate_FLR
                break;
        }
    }

    /// <summary>Puts something other than the reset value into every writable register, SRAM and config space.</summary>
    private CountingSignal[] Dirty()
    {
        _h.WriteCfg32(Spec.CfgBar0, Bar0Address);
        _h.WriteCfg32(Spec.CfgBar0 + 4, 0x1);
        var signals = _h.EnableMsix();
        _h.Write32(Spec.SCRATCH, 0xA5A5_A5A5);
        _h.Write64(Spec.SCRATCH64, 0x0102_0304_0506_0708);
        _h.Write32(Spec.INTEN, Spec.IntDiag | Spec.IntDmaDone | Spec.IntDmaErr);
        _h.Write32(Spec.DIAG_IRQ, 1);
        _h.Write64(Spec.DIAG_DMA_ADDR, 0x1_0000_0080);
        _h.Write32(Spec.DIAG_DMA_LEN, 0x40);
        _h.Write32(Spec.DIAG_DMA_SEED, 0x5EED);
        _h.Write32(Spec.DIAG_DMA_CTL, Spec.CtlDirWrite);
        _h.F.BarWrite(4, 0x10, [1, 2, 3, 4, 5, 6, 7, 8]);

        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDiag);
        _h.Read32(Spec.INTCNT).Should().Be(1u);
        return signals;
    }

    private void RegistersShouldBeAtReset(string after)
    {
        _h.Read32(Spec.ID).Should().Be(0x50454155u, after);
        _h.Read32(Spec.VERSION).Should().Be(0x00010001u, after);
        _h.Read32(Spec.CAPS).Should().Be(0x00040101u, after);
        _h.Read32(Spec.DMACAPS).Should().Be(0x20_0728u, after);
        _h.Read32(Spec.MAXSEG).Should().Be(65536u, after);
        foreach (ulong r in new[] { Spec.GCTL, Spec.INTSTS, Spec.INTEN, Spec.INTCNT, Spec.SCRATCH, Spec.DIAG_IRQ, Spec.DIAG_DMA_LEN, Spec.DIAG_DMA_SEED, Spec.DIAG_DMA_CTL, Spec.DIAG_DMA_STS, Spec.DIAG_DMA_RESULT })
        {
            _h.Read32(r).Should().Be(0u, $"register 0x{r:x3} {after}");
        }

        _h.Read64(Spec.SCRATCH64).Should().Be(0UL, after);
        _h.Read64(Spec.DIAG_DMA_ADDR).Should().Be(0UL, after);
    }

    private void SramShouldBeClear(string after)
    {
        _h.BarBytes(4, 0, 4096).Should().OnlyContain(b => b == 0, $"SRAM is cleared {after}");
        var direct = new byte[4096];
        _h.Card.Sram!.TryRead(0, direct).Should().BeTrue();
        direct.Should().OnlyContain(b => b == 0);
    }

    [Theory]
    [InlineData(Kind.Gctl)]
    [InlineData(Kind.DeviceReset)]
    [InlineData(Kind.Flr)]
    public void Every_card_reset_returns_registers_to_reset_values_and_clears_sram(Kind kind)
    {
        Dirty();

        Reset(kind);

        RegistersShouldBeAtReset($"after {kind}");
        SramShouldBeClear($"after {kind}");
        _h.Card.InterruptEvents.Should().Be(0);
    }

    [Fact]
    public void Gctl_reset_keeps_configuration_space()
    {
        Dirty();

        Reset(Kind.Gctl);

        _h.Cfg32(Spec.CfgBar0).Should().Be(Bar0Address | 0x4);
        _h.Cfg32(Spec.CfgBar0 + 4).Should().Be(1u);
        _h.Cfg16(Spec.CfgCommand).Should().Be((ushort)(Spec.CmdMemory | Spec.CmdBusMaster));
        (_h.Cfg16(Spec.MsixControl) & 0x8000).Should().Be(0x8000, "MSI-X stays enabled");
        _h.F.Interrupts.Mode.Should().Be(InterruptMode.Msix);
    }

    [Fact]
    public void Gctl_written_without_the_reset_bit_resets_nothing()
    {
        Dirty();

        _h.Write32(Spec.GCTL, 0xFFFF_FFFE);

        _h.Read32(Spec.SCRATCH).Should().Be(0xA5A5_A5A5u);
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDiag);
    }

    [Theory]
    [InlineData(Kind.DeviceReset)]
    [InlineData(Kind.Flr)]
    public void Device_reset_and_flr_also_reset_configuration_space(Kind kind)
    {
        Dirty();
        _h.WriteCfg32(Spec.CfgBar0 + 8, 0xFE90_0000); // BAR2

        Reset(kind);

        _h.Cfg32(Spec.CfgBar0).Should().Be(0x4u, $"BAR0 address back to 0 after {kind} (type bits remain)");
        _h.Cfg32(Spec.CfgBar0 + 4).Should().Be(0u);
        _h.Cfg32(Spec.CfgBar0 + 8).Should().Be(0u);
        _h.Cfg16(Spec.CfgCommand).Should().Be(0);
        (_h.Cfg16(Spec.MsixControl) & 0xC000).Should().Be(0, "MSI-X disabled");
        (_h.Cfg16(Spec.MsiControl) & 0x1).Should().Be(0, "MSI disabled");
        _h.F.Interrupts.Mode.Should().Be(InterruptMode.Intx);
        (_h.Cfg16(Spec.PcieDevCtl) & 0x8000).Should().Be(0, "Initiate_FLR reads 0");
        _h.Cfg16(Spec.CfgVendor).Should().Be(0x1234, "identity is not configuration state");
    }

    [Fact]
    public void Client_loss_keeps_registers_and_configuration_space()
    {
        Dirty();

        _h.F.Reset(ResetKind.ClientLost);

        _h.Read32(Spec.SCRATCH).Should().Be(0xA5A5_A5A5u);
        _h.Read64(Spec.SCRATCH64).Should().Be(0x0102_0304_0506_0708UL);
        _h.Read32(Spec.INTEN).Should().Be(0x7u);
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDiag);
        _h.Read32(Spec.INTCNT).Should().Be(1u);
        _h.Read64(Spec.DIAG_DMA_ADDR).Should().Be(0x1_0000_0080UL);
        _h.Read32(Spec.DIAG_DMA_SEED).Should().Be(0x5EEDu);
        _h.Read32(0x10, bar: 4).Should().Be(0x0403_0201u, "SRAM kept");
        _h.Cfg32(Spec.CfgBar0).Should().Be(Bar0Address | 0x4);
    }

    [Fact]
    public void In_d3hot_bar_reads_return_all_ones_and_writes_are_dropped_but_config_answers()
    {
        Dirty();

        _h.WriteCfg16(Spec.Pmcsr, 0x0003); // D3hot
        _h.F.PowerState.Should().Be(PcieEmu.Pci.Capabilities.PowerState.D3Hot);

        _h.Read32(Spec.ID).Should().Be(0xFFFF_FFFFu);
        _h.Read32(Spec.SCRATCH).Should().Be(0xFFFF_FFFFu);
        _h.Read64(Spec.SCRATCH64).Should().Be(ulong.MaxValue);
        _h.Read32(0x10, bar: 4).Should().Be(0xFFFF_FFFFu, "SRAM BAR too");
        _h.Write32(Spec.SCRATCH, 0x1111_1111);
        _h.Write32(Spec.GCTL, 1);
        _h.F.BarWrite(4, 0x10, [9, 9, 9, 9]);
        _h.Cfg16(Spec.CfgVendor).Should().Be(0x1234, "configuration accesses still work in D3hot");

        _h.WriteCfg16(Spec.Pmcsr, 0x0000); // back to D0

        _h.Read32(Spec.SCRATCH).Should().Be(0xA5A5_A5A5u, "the D3hot write was dropped and D3hot→D0 kept the state (No_Soft_Reset = 1)");
        _h.Read32(Spec.INTEN).Should().Be(0x7u, "GCTL.RESET written in D3hot was dropped");
        _h.Read32(Spec.INTCNT).Should().Be(1u);
        _h.Read32(0x10, bar: 4).Should().Be(0x0403_0201u, "SRAM kept");
        _h.Cfg32(Spec.CfgBar0).Should().Be(Bar0Address | 0x4, "config kept");
        _h.F.Interrupts.Mode.Should().Be(InterruptMode.Msix);
    }

    [Fact]
    public void Without_no_soft_reset_d3hot_to_d0_resets_the_card()
    {
        using var dir = new TempDir();
        var json = Repo.DefaultModelJson();
        json["power"]!["noSoftReset"] = false;
        using var h = new CardHarness(CardModelLoader.LoadAudio(dir.Write("soft-reset.json", json)));
        (h.Cfg16(Spec.Pmcsr) & 0x8).Should().Be(0, "No_Soft_Reset = 0 in this model");
        h.WriteCfg32(Spec.CfgBar0, Bar0Address);
        h.Write32(Spec.SCRATCH, 0x1234);

        h.WriteCfg16(Spec.Pmcsr, 0x0003);
        h.WriteCfg16(Spec.Pmcsr, 0x0000);

        h.Read32(Spec.SCRATCH).Should().Be(0u);
        h.Cfg32(Spec.CfgBar0).Should().Be(0x4u);
    }

    [Theory]
    [InlineData(Kind.Gctl)]
    [InlineData(Kind.DeviceReset)]
    [InlineData(Kind.Flr)]
    public void Reset_during_a_transfer_drops_its_result(Kind kind)
    {
        _h.EnableMemoryAndBusMaster();
        _h.Write32(Spec.INTEN, Spec.IntDmaDone | Spec.IntDmaErr);
        _h.F.BarWrite(4, 0, [0xAB, 0xCD]);
        var slow = _h.MapBlocking(Iova, 4096);
        Reference.Noise(4096, 4).CopyTo(slow.Memory, 0);
        _h.StartDiag(Iova, 256, write: false);
        slow.Entered.Wait(Poll.Timeout).Should().BeTrue();
        _h.Read32(Spec.DIAG_DMA_STS).Should().Be(Spec.StsBusy);

        Reset(kind);

        RegistersShouldBeAtReset($"right after {kind} during a transfer");
        SramShouldBeClear($"after {kind}");

        slow.Release();
        Poll.Until(() => _h.Card.DiagnosticTransfers == 1).Should().BeTrue("the stalled transfer ends once released");
        _h.Read32(Spec.DIAG_DMA_STS).Should().Be(0u, "the aborted transfer's result is dropped");

        // Fence: the engine runs jobs in order, so once this one finished the aborted one has fully retired.
        _h.RunDiag(Iova, 0, write: false).Should().Be(Spec.StsError(Spec.ErrLength));
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDmaErr, "the aborted transfer raised no DMA_DONE");
        _h.Read32(Spec.DIAG_DMA_RESULT).Should().Be(0u, "the aborted transfer stored no hash");
        _h.ViolationRules().Should().Equal("DmaLength");
    }

    [Theory]
    [InlineData(Kind.Gctl)]
    [InlineData(Kind.Flr)]
    public void Reset_during_a_write_stops_further_bytes(Kind kind)
    {
        _h.EnableMemoryAndBusMaster();
        var slow = _h.MapBlocking(Iova, 16384, blockReads: false, blockWrites: true);
        _h.StartDiag(Iova, 12288, write: true, seed: 1);
        slow.Entered.Wait(Poll.Timeout).Should().BeTrue();

        Reset(kind);
        slow.Release();
        Poll.Until(() => _h.Card.DiagnosticTransfers == 1).Should().BeTrue();
        _h.RunDiag(Iova, 0, write: false); // fence

        slow.Writes.Should().Be(1, "only the access in flight at the reset completes; no further bytes move");
        int moved = slow.Memory.Count(b => b != 0);
        moved.Should().BeLessThanOrEqualTo(4096);
        slow.Memory.AsSpan(4096).ToArray().Should().OnlyContain(b => b == 0);
        _h.Read32(Spec.DIAG_DMA_STS).Should().Be(Spec.StsError(Spec.ErrLength), "the fence's status, not the aborted write's");
    }

    [Theory]
    [InlineData(Kind.Gctl)]
    [InlineData(Kind.DeviceReset)]
    [InlineData(Kind.Flr)]
    public void Reset_deasserts_intx(Kind kind)
    {
        _h.EnableIntx();
        _h.Write32(Spec.INTEN, Spec.IntDiag);
        _h.Write32(Spec.DIAG_IRQ, 0);
        (_h.Cfg16(Spec.CfgStatus) & Spec.StsInterrupt).Should().Be(Spec.StsInterrupt);

        Reset(kind);

        _h.F.Interrupts.IntxLevel.Should().BeFalse();
        (_h.Cfg16(Spec.CfgStatus) & Spec.StsInterrupt).Should().Be(0);
    }

    [Theory]
    [InlineData(Kind.Gctl)]
    [InlineData(Kind.DeviceReset)]
    [InlineData(Kind.Flr)]
    public void Intcnt_counts_intx_edges_from_zero_again_after_a_reset(Kind kind)
    {
        var intx = _h.EnableIntx();
        _h.Write32(Spec.INTEN, Spec.IntDiag);
        _h.Write32(Spec.DIAG_IRQ, 0);
        _h.Read32(Spec.INTCNT).Should().Be(1u);

        Reset(kind);
        _h.EnableMemoryAndBusMaster();
        _h.F.Interrupts.SetMasked(IrqIndex.Intx, 0, 1, masked: false); // the client's end of interrupt
        _h.Write32(Spec.INTEN, Spec.IntDiag);
        _h.Write32(Spec.DIAG_IRQ, 0);

        (_h.Cfg16(Spec.CfgStatus) & Spec.StsInterrupt).Should().Be(Spec.StsInterrupt);
        intx.Count.Should().Be(2, "asserted again after the reset");
        _h.Read32(Spec.INTCNT).Should().Be(1u, $"one INTx rising edge since the {kind}");
    }
}
