using PcieEmu.Interop;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>qemu-vfio-user-client.md §4: QEMU's reply buffer is the request's size (two exceptions); every reply fits.</summary>
public sealed class ReplySizeTests
{
    [Theory]
    [InlineData(VfioUserClientJson.Qemu)]
    [InlineData(VfioUserClientJson.Small)]
    [InlineData(VfioUserClientJson.Tiny)]
    [InlineData(VfioUserClientJson.None)]
    public void Version_reply_never_exceeds_the_request(VfioUserClientJson which)
    {
        string? json = which switch
        {
            VfioUserClientJson.Qemu => Client.VfioUserClientOptions.QemuVersionJson,
            VfioUserClientJson.Small => "{\"capabilities\":{\"max_msg_fds\":8}}",
            VfioUserClientJson.Tiny => "{}",
            _ => null,
        };
        using var h = ServerHarness.Start(TransportKind.SocketPair, negotiate: false);
        var payload = Wire.Version(0, 0, json);
        using var r = h.Client.Call(VfioUserCommand.Version, payload);
        r.IsError.Should().BeFalse();
        r.Size.Should().BeLessThanOrEqualTo(MessageHeader.Length + payload.Length);
        VersionMessage.TryRead(r.Payload, out _, out _, out var replyJson).Should().BeTrue();
        if (!replyJson.IsEmpty)
        {
            replyJson[^1].Should().Be(0);
            VersionCapabilities.TryParse(replyJson, out _, out string? error).Should().BeTrue(error);
        }

        if (json is null)
        {
            r.Size.Should().Be(20, "no room for JSON: major and minor only");
        }
    }

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Fixed_size_replies_are_exact(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        var c = h.Client;
        Expect.Ok(c.Call(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x10000, 0x1000)), 16, "DMA_MAP").Dispose();
        using (var r = Expect.Ok(c.Call(VfioUserCommand.DmaUnmap, Wire.DmaUnmap(0x10000, 0x1000)), 40, "DMA_UNMAP"))
        {
            r.Payload.Should().Equal(Wire.DmaUnmap(0x10000, 0x1000));
        }

        Expect.Ok(c.Call(VfioUserCommand.DeviceGetInfo, Wire.DeviceInfo()), 32, "DEVICE_GET_INFO").Dispose();
        Expect.Ok(c.Call(VfioUserCommand.DeviceGetIrqInfo, Wire.IrqInfo(0)), 32, "GET_IRQ_INFO").Dispose();
        Expect.Ok(c.Call(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x09, 0, 0, 1)), 16, "SET_IRQS NONE|MASK").Dispose();
        Expect.Ok(c.Call(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x12, 0, 0, 1, [1])), 16, "SET_IRQS BOOL|UNMASK with data").Dispose();
        Expect.Ok(c.Call(VfioUserCommand.RegionWrite, Wire.Access(TestDevice.ScratchRegister, TestDevice.RegsBar, 4, Wire.U32(5))), 32, "REGION_WRITE").Dispose();
        Expect.Ok(c.Call(VfioUserCommand.DeviceReset, []), 16, "DEVICE_RESET").Dispose();
        Expect.Ok(c.Call(VfioUserCommand.DeviceGetRegionIoFds, Wire.RegionInfo(0).AsSpan(0, 16)), 32, "GET_REGION_IO_FDS: an empty list").Dispose();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(256)]
    [InlineData(4096)]
    public void Region_read_reply_is_32_plus_count(int count)
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var r = Expect.Ok(h.Client.Call(VfioUserCommand.RegionRead, Wire.Access(0, VfioRegion.Config, count)), 32 + count);
        r.Payload.AsSpan(0, 16).ToArray().Should().Equal(Wire.Access(0, VfioRegion.Config, count));
    }

    [Theory]
    [InlineData(32u, 48)]
    [InlineData(48u, 48)]
    [InlineData(79u, 48)]
    [InlineData(80u, 96)]
    [InlineData(200u, 96)]
    public void Region_info_reply_fits_16_plus_argsz(uint argsz, int expectedSize)
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var r = Expect.Ok(h.Client.Call(VfioUserCommand.DeviceGetRegionInfo, Wire.RegionInfo(TestDevice.ShmBar, argsz)), expectedSize);
        r.Size.Should().BeLessThanOrEqualTo(16 + (int)argsz);
        RegionInfo.TryRead(r.Payload, out var info).Should().BeTrue();
        info.Argsz.Should().Be(80u, "argsz always reports what the full answer needs");
        r.FdCount.Should().Be(expectedSize == 96 ? 1 : 0, "the fd comes only with the complete answer");
        ((info.Flags & VfioConstants.RegionInfoFlagCaps) != 0).Should().Be(expectedSize == 96);
    }

    [Fact]
    public void Region_info_of_a_region_without_caps_is_48_bytes_whatever_the_argsz()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var r = Expect.Ok(h.Client.Call(VfioUserCommand.DeviceGetRegionInfo, Wire.RegionInfo(VfioRegion.Config, 200)), 48);
        RegionInfo.TryRead(r.Payload, out var info).Should().BeTrue();
        info.Argsz.Should().Be(32u);
    }

    [Fact]
    public void Error_replies_are_the_bare_header_with_flags_0x21()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        Expect.Errno(h.Client.Call(VfioUserCommand.RegionRead, Wire.Access(0, 99, 4)), Errno.EINVAL);
        Expect.Errno(h.Client.Call(VfioUserCommand.DeviceGetRegionInfo, Wire.RegionInfo(12)), Errno.EINVAL);
        Expect.Errno(h.Client.Call(VfioUserCommand.DmaUnmap, Wire.DmaUnmap(0x5000, 0)), Errno.EINVAL);
    }

    [Fact]
    public void Posted_writes_and_write_multi_get_no_reply()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        var c = h.Client;
        c.Send(VfioUserCommand.RegionWrite, Wire.Access(TestDevice.ScratchRegister, TestDevice.RegsBar, 4, Wire.U32(1)), default,
            VfioUserFlags.Command | VfioUserFlags.NoReply);
        c.RegionWriteMulti([new RegionWriteMultiEntry(TestDevice.ScratchRegister, TestDevice.RegsBar, 4, 7)]);
        ushort id = c.Send(VfioUserCommand.DeviceGetInfo, Wire.DeviceInfo());
        using var r = c.Receive(ServerHarness.Bound);
        r.Id.Should().Be(id, "neither posted message was answered");
        c.ReadUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister).Should().Be(7u);
    }
}

public enum VfioUserClientJson
{
    Qemu,
    Small,
    Tiny,
    None,
}
