using PcieEmu.Harness.Provisioning;
using PcieEmu.Harness.Qemu;

namespace PcieEmu.Harness.Tests;

/// <summary>What a session with user drivers (GuestSessionOptions.Drivers) tells the guest's /init to load.</summary>
public sealed class GuestSessionDriversTests
{
    private const string Abi = "6.1.0-57-amd64";

    [Fact]
    public void The_kernel_command_line_loads_ours_when_asked_and_the_users_modules_after_them()
    {
        var artifacts = new GuestArtifacts("/q", "v", "/k", "/i", Abi, "/kdir", ["pcieemu_audio"], "pcieemu.agent", "/mnt/host", "host", "/m");
        var build = new UserDriverBuild("/src", "/c", [new("hello", "/c/hello.ko"), new("extra", "/c/extra.ko")], [], 0, false, "", TimeSpan.Zero);

        GuestSession.KernelCommandLine(new GuestSessionOptions(), artifacts, [build]).Should().Contain(" pcieemu.drivers=pcieemu_audio,hello,extra");
        GuestSession.KernelCommandLine(new GuestSessionOptions { LoadDrivers = false }, artifacts, [build]).Should().Contain(" pcieemu.drivers=hello,extra");
        GuestSession.KernelCommandLine(new GuestSessionOptions { LoadDrivers = false }, artifacts, []).Should().NotContain("pcieemu.drivers");
        GuestSession.KernelCommandLine(new GuestSessionOptions { Console = ConsoleMode.Terminal }, artifacts, [])
            .Should().Be("console=ttyS0 panic=-1 quiet pcieemu.share=1 pcieemu.mode=shell pcieemu.drivers=pcieemu_audio");
    }
}
