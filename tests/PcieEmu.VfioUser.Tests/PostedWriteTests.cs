using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>notes §5: NO_REPLY is never answered, even on error, and takes effect before the next request is answered.</summary>
public sealed class PostedWriteTests
{
    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public void Posted_write_takes_effect_before_the_next_reply(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        var c = h.Client;
        for (uint i = 1; i <= 100; i++)
        {
            c.WriteUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister, i, posted: true);
        }

        c.ReadUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister).Should().Be(100u, "all 100 posted writes ran, in order, before the read");
        c.WriteUInt64(TestDevice.RegsBar, TestDevice.Scratch64Register, 0x1122_3344_5566_7788, posted: true);
        c.ReadUInt64(TestDevice.RegsBar, TestDevice.Scratch64Register).Should().Be(0x1122_3344_5566_7788UL);
        h.Connection.Statistics.Commands(VfioUserCommand.RegionWrite).Should().Be(101);
    }

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Failing_posted_writes_are_not_answered_either(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        var c = h.Client;
        const VfioUserFlags posted = VfioUserFlags.Command | VfioUserFlags.NoReply;
        c.Send(VfioUserCommand.RegionWrite, Wire.Access(0, 99, 4, Wire.U32(1)), default, posted);                       // bad region
        c.Send(VfioUserCommand.RegionWrite, Wire.Access(TestDevice.RegsSize, TestDevice.RegsBar, 4, Wire.U32(1)), default, posted); // out of range
        c.Send(VfioUserCommand.RegionWrite, Wire.Access(0, TestDevice.RegsBar, 8, Wire.U32(1)), default, posted);       // count ≠ data
        c.Send(VfioUserCommand.DmaUnmap, Wire.DmaUnmap(0x1000, 0), default, posted);                                     // EINVAL (empty)
        ushort id = c.Send(VfioUserCommand.RegionRead, Wire.Access(TestDevice.IdRegister, TestDevice.RegsBar, 4));
        using var r = c.Receive(ServerHarness.Bound);
        r.Id.Should().Be(id, "nothing was sent for the four failing posted requests");
        Expect.Ok(r, 36);
        h.Connection.Statistics.RepliesSuppressed.Should().Be(4);
        h.Logs.Count(1109).Should().Be(4, "each suppressed error is logged");
    }
}
