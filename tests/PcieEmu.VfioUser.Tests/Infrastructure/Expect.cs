using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Tests.Infrastructure;

internal static class Expect
{
    /// <summary>An error reply: the 16-byte header with flags REPLY|ERROR (0x21) and the errno.</summary>
    public static void Errno(VfioUserMessage reply, int errno, string because = "")
    {
        using (reply)
        {
            reply.IsReply.Should().BeTrue(because);
            reply.Header.Flags.Should().Be(VfioUserFlags.Reply | VfioUserFlags.Error, $"{because} ({reply})");
            reply.Errno.Should().Be(errno, $"{because}: got {Interop.Errno.Name(reply.Errno)} ({reply})");
            reply.Size.Should().Be(MessageHeader.Length, because);
            reply.FdCount.Should().Be(0, because);
        }
    }

    /// <summary>A successful reply of exactly <paramref name="size"/> bytes with flags REPLY (0x1).</summary>
    public static VfioUserMessage Ok(VfioUserMessage reply, int size, string because = "")
    {
        reply.IsError.Should().BeFalse($"{because}: got {reply}");
        reply.Header.Flags.Should().Be(VfioUserFlags.Reply, because);
        reply.Header.Error.Should().Be(0u, because);
        reply.Size.Should().Be(size, $"{because} ({reply})");
        reply.Header.Size.Should().Be((uint)size, because);
        return reply;
    }
}
