using PcieEmu.Devices.AudioCard;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Integration.Tests;

/// <summary>Interrupts end to end: the diagnostic doorbell (spec §5) through the driver, QEMU and the guest kernel.</summary>
public sealed class InterruptTests(DriverGuest guest) : IClassFixture<DriverGuest>
{
    private async Task<Dictionary<string, long>> ProcInterrupts() => PcieEmu.Harness.Guest.ProcInterrupts.Parse(await guest.Run("cat /proc/interrupts"));

    /// <summary>
    /// Guest script: <paramref name="times"/> DIAG_IRQ writes of <paramref name="vector"/>, each after the previous
    /// interrupt was handled on <paramref name="countedVector"/>. Signals that reach the client's eventfd before it
    /// reads it merge into one interrupt (as with any vfio device, spec §5), so back-to-back writes may count fewer.
    /// </summary>
    private static string DiagIrqs(int vector, int times, int countedVector) =>
        $"D={GuestDevice.SysfsDir}; f={countedVector + 1}; for i in $(seq {times}); do " +
        $"b=$(cut -d' ' -f$f $D/irq_counts); echo {vector} > $D/diag_irq; n=0; " +
        "while [ \"$(cut -d' ' -f$f $D/irq_counts)\" = \"$b\" ] && [ $n -lt 300 ]; do sleep 0.01; n=$((n+1)); done; done";

    [Fact]
    public async Task Each_diag_irq_write_is_one_msix_interrupt_on_the_requested_vector()
    {
        (await guest.Run($"cat {GuestDevice.SysfsDir}/irq_mode")).Trim().Should().Be("msix");
        int vectors = guest.Audio.Model.MsixVectors;
        for (int v = 0; v < vectors; v++)
        {
            var before = await ProcInterrupts();
            long deviceBefore = guest.Audio.Function.Interrupts.DeliveredCount(IrqIndex.Msix, v);
            ulong intcntBefore = guest.Audio.PeekRegister(AudioRegister.Intcnt);
            const int writes = 5;

            await guest.Run(DiagIrqs(v, writes, v));

            var after = await ProcInterrupts();
            string name = $"pcieemu_audio-v{v}";
            (after[name] - before[name]).Should().Be(writes, $"the guest kernel must count {writes} interrupts on {name}");
            (guest.Audio.Function.Interrupts.DeliveredCount(IrqIndex.Msix, v) - deviceBefore).Should().Be(writes, "the device signalled each one");
            (guest.Audio.InterruptEvents >= writes).Should().BeTrue();
            ((long)(guest.Audio.PeekRegister(AudioRegister.Intcnt) - intcntBefore)).Should().BeGreaterThanOrEqualTo(writes);
        }
    }

    [Fact]
    public async Task A_vector_beyond_the_table_folds_modulo_the_vector_count()
    {
        int vectors = guest.Audio.Model.MsixVectors;
        int folded = (vectors + 2) % vectors;
        long before = guest.Audio.Function.Interrupts.DeliveredCount(IrqIndex.Msix, folded);

        await guest.Run(DiagIrqs(vectors + 2, 1, folded));

        (guest.Audio.Function.Interrupts.DeliveredCount(IrqIndex.Msix, folded) - before).Should().Be(1);
        string counts = await guest.Run($"cat {GuestDevice.SysfsDir}/irq_counts");
        long.Parse(counts.Split(' ', StringSplitOptions.RemoveEmptyEntries)[folded]).Should().BePositive();
    }

    [Theory]
    [InlineData("msi", IrqIndex.Msi)]
    [InlineData("intx", IrqIndex.Intx)]
    public async Task The_msi_and_intx_fallbacks_deliver_interrupts_too(string mode, IrqIndex index)
    {
        try
        {
            await guest.Run($"rmmod pcieemu_audio && insmod /lib/modules/pcieemu/pcieemu_audio.ko irq_mode={mode}");
            (await guest.Run($"cat {GuestDevice.SysfsDir}/irq_mode")).Trim().Should().Be(mode);
            guest.Audio.Function.Interrupts.Mode.Should().Be(index == IrqIndex.Msi ? InterruptMode.Msi : InterruptMode.Intx);
            long before = guest.Audio.Function.Interrupts.DeliveredCount(index, 0);
            string countsBefore = await guest.Run($"cat {GuestDevice.SysfsDir}/irq_counts");

            await guest.Run(DiagIrqs(0, 3, 0));

            (guest.Audio.Function.Interrupts.DeliveredCount(index, 0) - before).Should().BeGreaterThanOrEqualTo(3);
            long handled = long.Parse((await guest.Run($"cat {GuestDevice.SysfsDir}/irq_counts")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[0])
                           - long.Parse(countsBefore.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]);
            handled.Should().Be(3, $"the driver handled every interrupt in {mode} mode");
        }
        finally
        {
            await guest.Run("rmmod pcieemu_audio; insmod /lib/modules/pcieemu/pcieemu_audio.ko");
        }
    }
}
