using PcieEmu.Interop;
using PcieEmu.Pci;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Server;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>Guest-sized accesses (notes §5: 1, 2, 4 or 8 bytes), write_multiple, and what survives a reconnect.</summary>
public sealed class RegionAccessTests
{
    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public void Guest_access_sizes_reach_the_registers(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        var c = h.Client;
        const int bar = TestDevice.RegsBar;
        c.ReadUInt32(bar, TestDevice.IdRegister).Should().Be(TestDevice.IdValue);
        c.ReadUInt16(bar, TestDevice.IdRegister + 2).Should().Be(0x1234);
        c.ReadUInt8(bar, TestDevice.IdRegister).Should().Be(0x78);
        c.WriteUInt64(bar, TestDevice.Scratch64Register, 0x0102_0304_0506_0708);
        c.ReadUInt64(bar, TestDevice.Scratch64Register).Should().Be(0x0102_0304_0506_0708UL);
        c.ReadUInt32(bar, TestDevice.Scratch64Register + 4).Should().Be(0x0102_0304u);
        c.WriteUInt8(bar, TestDevice.ScratchRegister + 1, 0xAB);
        c.WriteUInt16(bar, TestDevice.ScratchRegister + 2, 0xCDEF);
        c.ReadUInt32(bar, TestDevice.ScratchRegister).Should().Be(0xCDEF_AB00u);
        c.ReadUInt32(bar, 0x800).Should().Be(0xFFFF_FFFFu, "unclaimed offsets read all-ones");

        // A multi-register read in one message is split by the framework.
        var block = new byte[16];
        c.RegionRead(bar, 0, block).Should().Be(16);
        block.AsSpan(0, 4).ToArray().Should().Equal(0x78, 0x56, 0x34, 0x12);

        // The shared-memory BAR is reachable by messages too, whatever the size.
        var data = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        c.RegionWrite(TestDevice.ShmBar, 0x1001, data);
        var back = new byte[300];
        c.RegionRead(TestDevice.ShmBar, 0x1001, back).Should().Be(300);
        back.Should().Equal(data);
    }

    [Fact]
    public void Write_multiple_is_advertised_on_request_and_applied_in_order()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair, new VfioUserServerOptions { AdvertiseWriteMultiple = true }, negotiate: false);
        var reply = h.Client.Negotiate();
        reply.Json.Should().Contain("\"write_multiple\":true");
        h.Client.ServerCapabilities.WriteMultiple.Should().BeTrue();
        reply.ReplySize.Should().BeLessThanOrEqualTo(214);

        h.Client.RegionWriteMulti(
        [
            new RegionWriteMultiEntry(TestDevice.ScratchRegister, TestDevice.RegsBar, 4, 1),
            new RegionWriteMultiEntry(TestDevice.Scratch64Register, TestDevice.RegsBar, 8, 0xAABB_CCDD_EEFF_0011),
            new RegionWriteMultiEntry(TestDevice.ScratchRegister, TestDevice.RegsBar, 2, 0x2222),
            new RegionWriteMultiEntry(0x3c, VfioRegion.Config, 1, 0x0B),
        ]);
        h.Client.ReadUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister).Should().Be(0x2222u);
        h.Client.ReadUInt64(TestDevice.RegsBar, TestDevice.Scratch64Register).Should().Be(0xAABB_CCDD_EEFF_0011UL);
        h.Client.ReadUInt8(VfioRegion.Config, 0x3c).Should().Be(0x0B);
    }

    [Fact]
    public void Unplug_then_replug_cycles_keep_device_state_and_release_client_resources()
    {
        using var device = new TestDevice();
        string path = Path.Combine(Path.GetTempPath(), $"pcieemu-{Guid.NewGuid():N}.sock");
        using var logs = new TestLoggerFactory();
        using var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions { Persist = true }, logs);
        server.Listen();
        var run = server.RunAsync();
        for (uint cycle = 1; cycle <= 3; cycle++)
        {
            using var ram = MemFd.Create("ram", 0x100000);
            using var err = EventFd.Create();
            using var intx = EventFd.Create();
            using (var c = VfioUserClient.Connect(path))
            {
                c.Negotiate();
                c.DmaMap(0, 0x100000, DmaMapFlags.ReadWrite, ram);
                c.DmaMap(0xfffc0000, 0x40000, DmaMapFlags.Read);
                c.SetIrqEventFds(0, 0, [intx]);
                c.SetIrqEventFds(3, 0, [err]);

                // The previous client's write is still there: a disconnect keeps device state (protocol §1).
                c.ReadUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister).Should().Be(cycle - 1);
                c.WriteUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister, cycle);

                // Unplug with a guest OS (notes §10): ERR de-assigned, INTx disabled, every map unmapped, socket closed.
                c.DeassignIrqs(3, 0, 1);
                c.DisableIrqs(0);
                c.DmaUnmap(0, 0x100000);
                c.DmaUnmap(0xfffc0000, 0x40000);
                device.Function.DmaMappings.Count.Should().Be(0);
            }

            SpinWait.SpinUntil(() => server.Current is null && server.SessionCount == (int)cycle, ServerHarness.Bound).Should().BeTrue();
        }

        device.ResetsSoFar().Count(r => r == ResetKind.ClientLost).Should().Be(3);
        server.Dispose();
        SpinWait.SpinUntil(() => run.IsCompleted, ServerHarness.Bound).Should().BeTrue();
    }
}
