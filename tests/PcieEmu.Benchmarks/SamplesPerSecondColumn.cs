using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace PcieEmu.Benchmarks;

/// <summary>
/// Throughput derived from Mean: every benchmark here reports one operation per frame
/// (<c>OperationsPerInvoke</c> = frames processed), so samples/s = Channels × 10⁹ / Mean[ns].
/// </summary>
internal sealed class SamplesPerSecondColumn : IColumn
{
    public string Id => nameof(SamplesPerSecondColumn);

    public string ColumnName => "MSamples/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Million samples (frames × channels) processed per second, from Mean (which is per frame)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (meanNs is not > 0 || benchmarkCase.Parameters["Channels"] is not int channels)
        {
            return "NA";
        }

        return (channels * 1e9 / meanNs.Value / 1e6).ToString("N1", CultureInfo.InvariantCulture);
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}
