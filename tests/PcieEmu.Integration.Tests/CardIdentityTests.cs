using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;

namespace PcieEmu.Integration.Tests;

/// <summary>The guest sees exactly the card the model file describes (issue: lspci -nn -vv shows IDs, class, BARs, capabilities).</summary>
public sealed class CardIdentityTests(DriverGuest guest) : IClassFixture<DriverGuest>
{
    [Fact]
    public async Task Lspci_shows_the_model_files_ids_class_and_revision()
    {
        var m = guest.Audio.Model;
        string lspci = await guest.Run($"lspci -nn -vv -s {GuestDevice.Bdf} 2>/dev/null");
        string header = lspci.Split('\n')[0];

        header.Should().Contain($"[{m.Identity.ClassCode >> 8:x4}]")
            .And.Contain($"[{m.Identity.VendorId:x4}:{m.Identity.DeviceId:x4}]")
            .And.Contain($"(rev {m.Identity.Revision:x2})");
        lspci.Should().Contain($"Subsystem: Device [{m.Identity.SubsystemVendorId:x4}:{m.Identity.SubsystemId:x4}]");
        (await guest.Run($"cat {GuestDevice.SysfsDir}/class")).Trim().Should().Be($"0x{m.Identity.ClassCode:x6}");
        lspci.Should().Contain("Kernel driver in use: pcieemu_audio");
    }

    [Fact]
    public async Task Lspci_shows_the_model_files_bars()
    {
        var m = guest.Audio.Model;
        string lspci = await guest.Run($"lspci -vv -s {GuestDevice.Bdf} 2>/dev/null");
        foreach (var (bar, prefetch) in new[] { (m.RegistersBar, "non-prefetchable"), (m.MsixBar, "non-prefetchable"), (m.SramBar!, "prefetchable") })
        {
            string bits = bar.Is64Bit ? "64-bit" : "32-bit";
            lspci.Should().MatchRegex($@"Region {bar.Index}: Memory at [0-9a-f]+ \({bits}, {prefetch}\) \[size={GuestOutput.LspciSize(bar.Size)}\]");
        }
    }

    [Fact]
    public async Task Lspci_shows_the_capabilities_where_the_device_placed_them()
    {
        var m = guest.Audio.Model;
        var f = guest.Audio.Function;
        string lspci = await guest.Run($"lspci -vv -s {GuestDevice.Bdf} 2>/dev/null");

        lspci.Should().Contain($"Capabilities: [{f.Capability<PowerManagementCapability>()!.Offset:x2}] Power Management version 3");
        lspci.Should().MatchRegex($@"Capabilities: \[{f.Capability<MsiCapability>()!.Offset:x2}\] MSI: Enable. Count=1/{m.MsiVectors} Maskable\+ 64bit\+");
        lspci.Should().Contain($"Capabilities: [{f.Capability<PciExpressCapability>()!.Offset:x2}] Express (v2) Endpoint");
        lspci.Should().MatchRegex($@"Capabilities: \[{f.Capability<MsixCapability>()!.Offset:x2}\] MSI-X: Enable\+ Count={m.MsixVectors} Masked-");
        lspci.Should().Contain($"Vector table: BAR={m.MsixBar.Index} offset=00000000");
        lspci.Should().Contain($"PBA: BAR={m.MsixBar.Index} offset={m.MsixBar.Size / 2:x8}");
        lspci.Should().Contain($"Capabilities: [{f.Capability<AerCapability>()!.Offset:x3} v2] Advanced Error Reporting");
        string serial = string.Join("-", BitConverter.GetBytes(m.Identity.SerialNumber!.Value).Reverse().Select(b => b.ToString("x2")));
        lspci.Should().Contain($"Capabilities: [{f.Capability<DeviceSerialNumberCapability>()!.Offset:x3} v1] Device Serial Number {serial}");
    }

    [Fact]
    public async Task The_device_saw_the_guest_program_its_bars_and_enable_it()
    {
        ulong bar0 = await GuestDevice.BarAddress(guest, guest.Audio.Model.RegistersBar.Index);
        var config = guest.Audio.Function.Config;
        int reg = PciConfigRegisters.BarOffset(guest.Audio.Model.RegistersBar.Index);
        ulong programmed = (config.Get32(reg) & ~0xFUL) | ((ulong)config.Get32(reg + 4) << 32);

        programmed.Should().Be(bar0, "the BAR address the guest kernel assigned must have reached the device's config space");
        guest.Audio.Function.Command.Should().HaveFlag(PciCommand.MemorySpace).And.HaveFlag(PciCommand.BusMaster);
        guest.Audio.Function.Statistics.ConfigReads.Should().BePositive();
        guest.Audio.Checker.Count.Should().Be(0);
    }
}
