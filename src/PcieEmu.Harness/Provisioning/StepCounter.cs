namespace PcieEmu.Harness.Provisioning;

/// <summary>Passes provisioning steps through, counting <paramref name="extra"/> steps after them, and remembers how many there were.</summary>
internal sealed class StepCounter(IProgress<ProvisionStep> inner, int extra, Action<int> count) : IProgress<ProvisionStep>
{
    public void Report(ProvisionStep value)
    {
        count(value.Count);
        inner.Report(value with { Count = value.Count + extra });
    }
}
