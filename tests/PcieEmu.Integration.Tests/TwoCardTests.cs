using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Integration.Tests;

/// <summary>Several cards in one guest, each behind its own pcie-root-port and served by its own server.</summary>
public sealed class TwoCardTests(TwoCardGuest guest) : IClassFixture<TwoCardGuest>
{
    [Fact]
    public async Task Both_cards_enumerate_and_interrupts_reach_the_right_device()
    {
        string lspci = await guest.Run("lspci -n -d 1234: 2>/dev/null");
        lspci.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().HaveCount(2);
        string bound = await guest.Run("ls /sys/bus/pci/drivers/pcieemu_audio/ | grep 0000: | sort");
        var devices = bound.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        devices.Should().HaveCount(2);

        for (int i = 0; i < 2; i++)
        {
            long[] before = [.. guest.Session.Cards.Select(c => c.Card.Function.Interrupts.DeliveredCount(IrqIndex.Msix, 2))];
            await guest.Run($"echo 2 > /sys/bus/pci/devices/{devices[i]}/diag_irq; sleep 0.2");
            long[] delta = [.. guest.Session.Cards.Select((c, k) => c.Card.Function.Interrupts.DeliveredCount(IrqIndex.Msix, 2) - before[k])];
            delta.Sum().Should().Be(1);
        }

        guest.Session.Cards.Should().OnlyContain(c => c.Card.Function.Interrupts.DeliveredCount(IrqIndex.Msix, 2) == 1);
    }
}
