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

    /// <summary>
    /// The CI use of the driver checker: a seeded driver bug under `boot --fail-on-violation` prints the sanitizer
    /// report at the end, writes the JSON line and exits 3 although every guest command succeeded.
    /// </summary>
    [Fact]
    public async Task A_seeded_driver_bug_under_fail_on_violation_prints_the_report_and_exits_non_zero()
    {
        string json = Path.Combine(Path.GetTempPath(), $"pcieemu-violations-{Guid.NewGuid():N}.jsonl");
        try
        {
            string fault = $"{FaultScenario.Device} && echo misalign > $dev/fault";
            string play = "dd if=/dev/zero bs=4096 count=64 2>/dev/null | aplay -q -D hw:0,0 -t raw -f S16_LE -r 48000 -c 2 --period-size=1024 --buffer-size=4096 -; echo aplay=$?";
            var boot = await CliProcess.RunAsync(TimeSpan.FromMinutes(5), "boot", "--timeout", "240", "--fail-on-violation",
                "--violations-json", json, "--exec", fault, "--exec", play);

            boot.Exit.Should().Be(3, $"a violation under --fail-on-violation; stderr:\n{boot.Stderr}");
            boot.Stdout.Should().Contain("aplay=1", "the card refused the start and aplay said so");
            boot.Stderr.Should().Contain("==pcieemu== VIOLATION: StreamAlign").And.Contain("first bad: IOVA").And.Contain("SD0_CTL")
                .And.Contain("§6.1", "the report names the rule, the address, the access and the spec section");
            var lines = File.ReadAllLines(json);
            lines.Should().ContainSingle(l => l.Contains("\"rule\":\"StreamAlign\"", StringComparison.Ordinal), string.Join('\n', lines));
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Fact]
    public async Task An_unknown_rule_setting_is_one_clear_line_before_any_boot()
    {
        var boot = await CliProcess.RunAsync(TimeSpan.FromMinutes(1), "boot", "--rule", "NoSuchRule=off", "--exec", "true");

        boot.Exit.Should().Be(2);
        boot.Stderr.Trim().Should().StartWith("boot: rule setting 'NoSuchRule=off': no rule is called 'NoSuchRule'").And.NotContain("   at ");
    }

    [Fact]
    public async Task Boot_with_viommu_plays_and_records_behind_the_guests_iommu()
    {
        const string raw = "-t raw -f S16_LE -r 48000 -c 2 --period-size=1024 --buffer-size=16384 -d 1";
        var boot = await CliProcess.RunAsync(TimeSpan.FromMinutes(5), "boot", "--viommu",
            "--exec", "cat $(ls -d /sys/bus/pci/drivers/pcieemu_audio/*:*:*.* | head -n 1)/iommu_group/type",
            "--exec", $"aplay -q -D hw:0,0 {raw} /dev/zero",
            "--exec", $"arecord -q -D hw:0,0 {raw} /tmp/viommu.raw && wc -c < /tmp/viommu.raw");

        boot.Exit.Should().Be(0, $"every command succeeded:\n{boot.Stdout}\n{boot.Stderr}");
        boot.Stdout.Split('\n', StringSplitOptions.TrimEntries).Should().Contain("DMA", "the card sits in a translated IOMMU domain")
            .And.Contain("192000", "one second of S16 stereo at 48 kHz came back through the card");
    }
}
