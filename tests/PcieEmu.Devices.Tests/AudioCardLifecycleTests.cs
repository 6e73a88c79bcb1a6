using Microsoft.Extensions.Logging;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.Devices.Tests;

/// <summary>The card on the real clock: its engine thread must never see a half-built card.</summary>
public sealed class AudioCardLifecycleTests
{
    [Fact]
    public void The_stream_engine_starts_only_once_the_card_is_built()
    {
        using var logs = new TestLoggerFactory();
        for (int i = 0; i < 20; i++)
        {
            using var card = new PcieEmu.Devices.AudioCard.AudioCard(Repo.DefaultModel, logs);
            card.WaitForEngineLoop(TimeSpan.FromSeconds(10)).Should().BeTrue("the engine thread runs posted jobs");
        }

        logs.AtLeast(LogLevel.Warning).Should().BeEmpty("the engine pumped every stream of a fully built card without failing");
    }
}
