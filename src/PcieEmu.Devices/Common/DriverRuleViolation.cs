namespace PcieEmu.Devices.Common;

/// <summary>Something a driver did that the card's spec forbids, recorded by name for host-side assertions.</summary>
public sealed record DriverRuleViolation(string Rule, string Detail, DateTimeOffset Time);

/// <summary>Thread-safe, bounded record of violations (the first 1000 are kept; all are counted).</summary>
public sealed class DriverRuleViolations
{
    private const int Kept = 1000;
    private readonly List<DriverRuleViolation> _items = [];
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public event Action<DriverRuleViolation>? Recorded;

    public void Record(string rule, string detail)
    {
        var v = new DriverRuleViolation(rule, detail, DateTimeOffset.UtcNow);
        Interlocked.Increment(ref _count);
        lock (_items)
        {
            if (_items.Count < Kept)
            {
                _items.Add(v);
            }
        }

        Recorded?.Invoke(v);
    }

    public IReadOnlyList<DriverRuleViolation> Snapshot()
    {
        lock (_items)
        {
            return [.. _items];
        }
    }
}
