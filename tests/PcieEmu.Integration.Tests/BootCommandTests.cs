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
}
