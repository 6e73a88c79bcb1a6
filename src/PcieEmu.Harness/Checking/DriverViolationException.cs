using PcieEmu.Pci.Checking;

namespace PcieEmu.Harness.Checking;

/// <summary>
/// The driver broke a rule of a card it was not expected to break: the message is the first such violation's full
/// report (what, where, when, what it should have done), like a sanitizer's first error.
/// </summary>
public sealed class DriverViolationException : Exception
{
    public DriverViolationException(string message, IReadOnlyList<RuleViolation> violations)
        : base(message) => Violations = violations;

    public DriverViolationException()
    {
        Violations = [];
    }

    public DriverViolationException(string message)
        : base(message) => Violations = [];

    public DriverViolationException(string message, Exception inner)
        : base(message, inner) => Violations = [];

    /// <summary>The unexpected violations, in the order reported.</summary>
    public IReadOnlyList<RuleViolation> Violations { get; }
}
