using PcieEmu.Pci.Observation;

namespace PcieEmu.Pci.Timing;

/// <summary>
/// The clock a function's device reads: its injected clock, except that inside an observed unit on the calling
/// thread it reads the unit's instant. A stimulus then sees one time from start to end, and the same time when it
/// is replayed (trace replay sets the clock to each unit's recorded instant).
/// </summary>
internal sealed class FunctionClock(IDeviceClock clock, Func<FunctionObservation?> observation) : IDeviceClock
{
    public IDeviceClock Source => clock;

    public long NowNanoseconds => observation() is { InUnit: true } o ? o.UnitTime : clock.NowNanoseconds;
}
