using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Harness.Audio;

namespace PcieEmu.Integration.Tests;

/// <summary>
/// The card's own record of a guest transfer: what its engine moved on one stream during one guest command.
/// Every audio test compares against this, so the rules it checks (one command = one RUN, the format SD_FMT
/// announced, no violation) live here once.
/// </summary>
internal static class CardRuns
{
    /// <summary>
    /// Runs <paramref name="command"/> in the guest and returns the one RUN it caused on stream
    /// <paramref name="streamIndex"/>, which must have <paramref name="format"/>, at least
    /// <paramref name="minimumFrames"/> frames and no driver-rule violation on the way.
    /// </summary>
    public static async Task<RecordedRun> RunOnce(GuestFixture guest, int streamIndex, string command, AudioFormat format, int minimumFrames)
    {
        var stream = guest.Audio.Streams[streamIndex];
        int runs = stream.Runs.Count;
        long violations = guest.Audio.Checker.Count;

        await guest.Run(command);

        stream.Runs.Should().HaveCount(runs + 1, $"one {(stream.IsCapture ? "arecord" : "aplay")} is one RUN of stream {streamIndex}");
        var run = stream.Runs[^1];
        run.Format.Should().Be(format, "SD_FMT carries the channel count, format and rate (spec §9.1)");
        run.Bytes.Length.Should().BeGreaterThanOrEqualTo(minimumFrames * format.FrameBytes, "drain moves every frame before the stop");
        guest.Audio.Checker.Count.Should().Be(violations, "the driver broke no rule of the card");
        return run;
    }

    /// <summary><paramref name="actual"/> begins with exactly <paramref name="expected"/>; the message names the first differing byte.</summary>
    public static void ShouldStartWith(byte[] actual, byte[] expected, string what)
    {
        actual.Length.Should().BeGreaterThanOrEqualTo(expected.Length, what);
        actual.AsSpan(0, expected.Length).SequenceEqual(expected).Should().BeTrue(
            $"{what}, bit-exact; first difference at byte {FrameSearch.FirstDifference(actual, expected)}");
    }
}
