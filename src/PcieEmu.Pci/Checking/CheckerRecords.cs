using PcieEmu.Pci.Observation;

namespace PcieEmu.Pci.Checking;

/// <summary>The trace record every observed function writes for what its checker reports.</summary>
public static class CheckerRecords
{
    /// <summary>
    /// A rule broken: Text = the rule's name, Detail = the report as one JSON line without the wall-clock time (so a
    /// replay reproduces it byte for byte).
    /// </summary>
    public static readonly DeviceRecordKind Violation = new((TraceEventKind)64, "Violation", TraceFields.Text | TraceFields.Detail);

    /// <summary>Writes every report of <paramref name="checker"/> from now on into <paramref name="observation"/>.</summary>
    internal static void Record(DriverChecker checker, FunctionObservation observation) =>
        checker.Recorded += v => observation.Note(Violation.Record(text: v.Rule.Name, detail: v.ToJson(includeWallTime: false)));
}
