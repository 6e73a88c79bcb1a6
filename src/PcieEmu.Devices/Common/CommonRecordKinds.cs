using PcieEmu.Pci.Observation;

namespace PcieEmu.Devices.Common;

/// <summary>Trace record kinds every card writes.</summary>
public static class CommonRecordKinds
{
    /// <summary>A driver-rule violation the card recorded: Text = rule, Detail = what the driver did.</summary>
    public static readonly DeviceRecordKind Violation = new((TraceEventKind)64, "Violation", TraceFields.Text | TraceFields.Detail);

    public static IReadOnlyList<DeviceRecordKind> All { get; } = [Violation];

    /// <summary>Writes every violation <paramref name="violations"/> records from now on into <paramref name="observation"/>.</summary>
    public static void RecordViolations(DriverRuleViolations violations, FunctionObservation observation) =>
        violations.Recorded += v => observation.Note(Violation.Record(text: v.Rule, detail: v.Detail));
}
