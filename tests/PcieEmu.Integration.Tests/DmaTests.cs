namespace PcieEmu.Integration.Tests;

/// <summary>The diagnostic DMA engine (spec §6) driven by the driver, guest RAM reached through the mmapped DMA_MAP fds.</summary>
public sealed class DmaTests(DriverGuest guest) : IClassFixture<DriverGuest>
{
    private async Task<string> DmaTest(string command)
    {
        await guest.Run($"echo '{command}' > {GuestDevice.SysfsDir}/dma_test");
        return (await guest.Run($"cat {GuestDevice.SysfsDir}/dma_test")).Trim();
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(65536)]
    public async Task The_card_reads_and_writes_guest_memory_bit_exact(int length)
    {
        long readBefore = guest.Audio.Function.Statistics.DmaReadBytes;
        long writeBefore = guest.Audio.Function.Statistics.DmaWriteBytes;

        (await DmaTest($"read {length} 0xdeadbeef")).Should().StartWith("ok read");
        (await DmaTest($"write {length} 0x1234")).Should().StartWith("ok write");

        (guest.Audio.Function.Statistics.DmaReadBytes - readBefore).Should().Be(length);
        (guest.Audio.Function.Statistics.DmaWriteBytes - writeBefore).Should().Be(length);
        guest.Audio.Function.DmaMappings.Mappings.Should().Contain(m => m.BackingKind == "mmap", "shared guest RAM arrives with fds");
    }

    [Fact]
    public async Task A_misaligned_buffer_is_refused_and_recorded_as_a_driver_rule_violation()
    {
        guest.ExpectViolations("DmaAlign");
        long violations = guest.Audio.Checker.Count;

        (await DmaTest("read 4096 1 offset 4")).Should().Be("error code=6 ALIGN");

        guest.Audio.Checker.Count.Should().Be(violations + 1);
        guest.AudioViolations().Should().Contain(v => v.RuleName == "DmaAlign");
    }

    [Fact]
    public async Task Without_bus_mastering_the_card_does_no_dma_and_reports_BUS_MASTER()
    {
        guest.ExpectViolations("DmaBusMaster");
        long readBefore = guest.Audio.Function.Statistics.DmaReadBytes;
        try
        {
            await guest.Run($"setpci -s {GuestDevice.Bdf} COMMAND=0000:0004");
            string result = await DmaTest("read 4096 1");

            // The error interrupt is an MSI-X message, itself a memory write: it waits for Bus Master Enable
            // (spec §5), so the driver sees its wait time out with the card's status already final.
            result.Should().BeOneOf("error code=3 BUS_MASTER", "timeout sts=0x00000304");
            guest.Audio.PeekRegister(PcieEmu.Devices.AudioCard.AudioRegister.DiagDmaSts).Should().Be(0x304);
            guest.Audio.Function.Statistics.DmaReadBytes.Should().Be(readBefore, "no byte may move without bus mastering");
            guest.AudioViolations().Should().Contain(v => v.RuleName == "DmaBusMaster");
        }
        finally
        {
            await guest.Run($"setpci -s {GuestDevice.Bdf} COMMAND=0004:0004");
        }

        (await DmaTest("read 4096 1")).Should().StartWith("ok read");
    }
}

/// <summary>
/// Guest RAM without an fd: QEMU maps it without fds, so the card's DMA goes out as DMA_READ/DMA_WRITE
/// messages. This is the check of the message layout against QEMU itself.
/// </summary>
public sealed class MessageDmaTests(UnsharedRamGuest guest) : IClassFixture<UnsharedRamGuest>
{
    [Theory]
    [InlineData(4096)]
    [InlineData(65536)]
    public async Task Dma_through_messages_is_bit_exact_in_both_directions(int length)
    {
        guest.Audio.Function.DmaMappings.Mappings.Should().NotContain(m => m.BackingKind == "mmap", "unshared RAM must come without fds");
        long sentBefore = guest.Card.Connection!.RequestsSentToClient;

        await guest.Run($"echo 'read {length} 0xfeedf00d' > {GuestDevice.SysfsDir}/dma_test");
        (await guest.Run($"cat {GuestDevice.SysfsDir}/dma_test")).Trim().Should().StartWith("ok read");
        await guest.Run($"echo 'write {length} 0x77' > {GuestDevice.SysfsDir}/dma_test");
        (await guest.Run($"cat {GuestDevice.SysfsDir}/dma_test")).Trim().Should().StartWith("ok write");

        (guest.Card.Connection!.RequestsSentToClient - sentBefore).Should().BeGreaterThanOrEqualTo(2, "the bytes travelled as DMA_READ/DMA_WRITE messages");
        guest.Audio.Checker.Count.Should().Be(0);
    }
}
