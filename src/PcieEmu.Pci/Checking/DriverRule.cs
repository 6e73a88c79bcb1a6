namespace PcieEmu.Pci.Checking;

/// <summary>How much a broken rule weighs: a warning is reported and counted, a violation also fails a checked run.</summary>
public enum RuleSeverity
{
    /// <summary>Not reported at all (a policy can switch a rule off).</summary>
    Off = 0,

    /// <summary>Reported and counted, but a run with only warnings passes (unless warnings are made violations).</summary>
    Warning = 1,

    /// <summary>A driver bug: reported, counted, and a checked run fails.</summary>
    Violation = 2,
}

/// <summary>
/// A rule a driver must follow, declared once as data by whoever checks it (a device, or the PCI framework for the
/// rules every function shares). <paramref name="Name"/> is the stable identifier tests and policies use;
/// <paramref name="Section"/> is where the rule is written (e.g. "spec §10", "PCI Express Base 6.0 §5.3.1.4");
/// <paramref name="Expected"/> is what the driver should have done, in one sentence.
/// </summary>
/// <param name="Name">Stable identifier (PascalCase), as policies, assertions and JSON reports name the rule.</param>
/// <param name="Section">Where the rule is written.</param>
/// <param name="Expected">What the driver should have done, in one sentence.</param>
/// <param name="Severity">How much breaking it counts unless a <see cref="CheckerPolicy"/> says otherwise.</param>
public sealed record DriverRule(string Name, string Section, string Expected, RuleSeverity Severity = RuleSeverity.Violation)
{
    /// <summary>The rule's <see cref="Name"/>.</summary>
    public override string ToString() => Name;
}
