using System.Net.Sockets;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Server;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// Refused clients cannot flood the log: any same-user process may connect in a loop while QEMU is attached. The
/// first refusal is logged, then at most one summary per interval, and the end of the session reports the rest.
/// </summary>
public sealed class RefusedClientLogTests
{
    private const int Refused = 1051;
    private const int RefusedSummary = 1053;

    [Fact]
    public void A_thousand_refused_connects_produce_a_bounded_number_of_log_lines()
    {
        var time = new ManualTime();
        using var logs = new TestLoggerFactory();
        using var device = new TestDevice();
        string path = Path.Combine(Path.GetTempPath(), $"pcieemu-{Guid.NewGuid():N}.sock");
        var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions { TimeProvider = time }, logs);
        server.Listen();
        var run = server.RunAsync();
        using var first = VfioUserClient.Connect(path);
        first.Negotiate();

        for (int i = 0; i < 1000; i++)
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(path));
        }

        Poll(() => server.RefusedClients == 1000).Should().BeTrue($"the server sees every connect (saw {server.RefusedClients})");
        logs.Count(Refused).Should().Be(1, "the first refusal is logged");
        logs.Count(RefusedSummary).Should().Be(0, "the clock did not move: the rest are only counted");

        time.Advance(TimeSpan.FromSeconds(10));
        using (var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            s.Connect(new UnixDomainSocketEndPoint(path));
        }

        Poll(() => logs.Count(RefusedSummary) == 1).Should().BeTrue("one summary once the interval has passed");
        logs.Entries.Single(e => e.EventId == RefusedSummary).Message.Should().StartWith("Refused 1000 more client(s)", "999 held back plus this one");

        first.GetDeviceInfo().NumRegions.Should().Be(9, "the attached client is unaffected");
        first.Dispose();
        Poll(() => run.IsCompleted).Should().BeTrue();
        server.Dispose();
        logs.Count(Refused).Should().Be(1);
        logs.Count(RefusedSummary).Should().Be(1, "nothing was held back at the end");
    }

    [Fact]
    public void Refusals_held_back_are_reported_when_the_session_ends()
    {
        using var logs = new TestLoggerFactory();
        using var device = new TestDevice();
        string path = Path.Combine(Path.GetTempPath(), $"pcieemu-{Guid.NewGuid():N}.sock");
        var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions { TimeProvider = new ManualTime() }, logs);
        server.Listen();
        var run = server.RunAsync();
        using var first = VfioUserClient.Connect(path);
        first.Negotiate();
        for (int i = 0; i < 5; i++)
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(path));
        }

        Poll(() => server.RefusedClients == 5).Should().BeTrue();
        first.Dispose();
        Poll(() => run.IsCompleted).Should().BeTrue();
        server.Dispose();

        logs.Count(Refused).Should().Be(1);
        logs.Entries.Single(e => e.EventId == RefusedSummary).Message.Should().StartWith("Refused 4 more client(s)");
    }

    private static bool Poll(Func<bool> condition) => SpinWait.SpinUntil(condition, TimeSpan.FromSeconds(30));

    /// <summary>A clock that moves only when told to.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
