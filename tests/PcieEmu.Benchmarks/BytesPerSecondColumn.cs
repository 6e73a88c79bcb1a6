using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace PcieEmu.Benchmarks;

/// <summary>Copy speed derived from Mean and the case's <c>Bytes</c> parameter: GB/s = Bytes / Mean[ns].</summary>
internal sealed class BytesPerSecondColumn : IColumn
{
    public string Id => nameof(BytesPerSecondColumn);

    public string ColumnName => "GB/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Bytes copied per nanosecond (10^9 bytes per second), from Mean and the Bytes parameter";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is not { } stats || benchmarkCase.Parameters["Bytes"] is not int bytes || stats.Mean <= 0)
        {
            return "-";
        }

        return (bytes / stats.Mean).ToString("F2", CultureInfo.InvariantCulture);
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}
