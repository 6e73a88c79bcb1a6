namespace PcieEmu.Integration.Tests;

/// <summary>`pcieemu boot` as a process: when the session fails it says why and shows the logs a person needs.</summary>
public sealed class BootCommandTests
{
    [Fact]
    public async Task A_command_that_outlives_the_session_fails_with_the_qemu_console_and_server_logs()
    {
        // 60 s: long enough for a loaded machine to boot the guest (the timeout covers the boot too), far short of the command.
        var boot = await CliProcess.RunAsync(TimeSpan.FromMinutes(5), "boot", "--timeout", "60", "--exec", "echo started; sleep 600");

        boot.Exit.Should().Be(1, boot.Stderr);
        boot.Stderr.Should().Contain("failed: session timeout");
        boot.Stderr.Should().Contain("qemu.log").And.Contain("console.log").And.Contain("server-0.log");
        boot.Stderr.Should().Contain("@@READY", "the guest console's tail is shown, not just its name");
        boot.Stderr.Should().Contain("PcieEmu.VfioUser.Connection", "so is the card server's log");
    }

    [Fact]
    public async Task Boot_with_viommu_plays_and_records_behind_the_guests_iommu()
    {
        const string raw = "-t raw -f S16_LE -r 48000 -c 2 --period-size=1024 --buffer-size=16384 -d 1";
        var boot = await CliProcess.RunAsync(TimeSpan.FromMinutes(5), "boot", "--viommu",
            "--exec", "cat $(ls -d /sys/bus/pci/drivers/pcieemu_audio/*:*:*.* | head -n 1)/iommu_group/type",
            "--exec", $"aplay -q -D hw:0,0 {raw} /dev/zero",
            "--exec", $"arecord -q -D hw:0,1 {raw} /tmp/viommu.raw && wc -c < /tmp/viommu.raw");

        boot.Exit.Should().Be(0, $"every command succeeded:\n{boot.Stdout}\n{boot.Stderr}");
        boot.Stdout.Split('\n', StringSplitOptions.TrimEntries).Should().Contain("DMA", "the card sits in a translated IOMMU domain")
            .And.Contain("192000", "one second of S16 stereo at 48 kHz came back through the card");
    }
}
