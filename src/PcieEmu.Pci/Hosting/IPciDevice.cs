using Microsoft.Extensions.Logging;
using PcieEmu.Pci.Observation;
using PcieEmu.Pci.Scheduling;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Pci.Hosting;

/// <summary>
/// What a host (vfio-user server, guest harness, trace recorder and replayer) needs of any device: its PCI function,
/// and how to observe it. A device built on <see cref="PciFunctionBuilder"/> implements <see cref="Function"/> and
/// <see cref="IDisposable.Dispose"/>; the rest has defaults.
/// </summary>
public interface IPciDevice : IDisposable
{
    /// <summary>The device's PCI function; the device builds it, owns it and disposes it in <see cref="IDisposable.Dispose"/>.</summary>
    PciFunction Function { get; }

    /// <summary>The trace record kinds this device defines beyond the framework's (none by default).</summary>
    IReadOnlyList<DeviceRecordKind> RecordKinds => [];

    /// <summary>Starts observing the device (a trace recorder or replayer), before any client traffic.</summary>
    FunctionObservation Observe(IFunctionObserver observer) => Function.Observe(observer);
}

/// <summary>
/// What a host hands a device it creates: loggers, the device's time and how its scheduler runs. Pass
/// <see cref="Clock"/> and <see cref="Scheduling"/> to <see cref="PciFunctionBuilder.Timing"/>: a trace replay runs
/// the device on a manual clock with an external scheduler.
/// </summary>
/// <param name="Loggers">Where the device's logs go; pass it to <see cref="PciFunctionBuilder.Logging"/>.</param>
/// <param name="Clock">The device's time.</param>
/// <param name="Scheduling">How the device's scheduler runs.</param>
public sealed record PciDeviceContext(ILoggerFactory Loggers, IDeviceClock Clock, SchedulerMode Scheduling)
{
    /// <summary>Real time on the host's monotonic clock, the scheduler on its own thread (serve, boot).</summary>
    public static PciDeviceContext RealTime(ILoggerFactory loggers) => new(loggers, new MonotonicDeviceClock(), SchedulerMode.RealTime);
}

/// <summary>
/// A kind of device a host can create as often as it needs (a boot, a replay): <paramref name="Name"/> identifies
/// it in logs and traces (a trace replays only against the kind it was recorded from).
/// </summary>
/// <param name="Name">The kind's stable name (it is written into traces).</param>
/// <param name="Create">Builds a fresh device; the host owns and disposes it.</param>
public sealed record PciDeviceType(string Name, Func<PciDeviceContext, IPciDevice> Create);
