using PcieEmu.Pci.Checking;
using PcieEmu.Pci.Observation;

namespace PcieEmu.Devices.Common;

/// <summary>Trace record kinds every card writes (the framework writes them: <see cref="CheckerRecords"/>).</summary>
internal static class CommonRecordKinds
{
    /// <summary>A driver-rule violation or warning: Text = rule, Detail = the report as JSON.</summary>
    public static DeviceRecordKind Violation => CheckerRecords.Violation;

    public static IReadOnlyList<DeviceRecordKind> All { get; } = [CheckerRecords.Violation];
}
