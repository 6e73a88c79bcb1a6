using PcieEmu.Pci.Scheduling;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Devices.AudioCard;

/// <summary>How a card runs outside its model file: its time, its scheduler, where samples go (spec §11, §13).</summary>
internal sealed record AudioCardOptions
{
    /// <summary>The card's clock (default: host monotonic time). Manual and External scheduling need a <see cref="ManualDeviceClock"/>.</summary>
    public IDeviceClock? Clock { get; init; }

    /// <summary>
    /// Real time (default: the card's scheduler thread); Manual (tests: time moves only through
    /// <see cref="AudioCard.AdvanceTime"/>); External (trace replay: the host runs each scheduler step).
    /// </summary>
    public SchedulerMode Scheduling { get; init; } = SchedulerMode.RealTime;

    /// <summary>Per stream name, a route that replaces the model file's (e.g. from `pcieemu serve --route`).</summary>
    public IReadOnlyDictionary<string, string> Routes { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Per stream, how many bytes of what it transferred the host keeps for reading back (<see cref="Streams.AudioStream.Runs"/>,
    /// spec §13). 0, the default: frames are counted, never kept — a plain server must not grow by what it streams.
    /// Test harnesses turn it on.
    /// </summary>
    public long KeepSampleBytes { get; init; }
}
