using PcieEmu.Pci.Checking;

namespace PcieEmu.Harness.Checking;

/// <summary>
/// The driver broke a rule of a card it was not expected to break: the message is the first such violation's full
/// report (what, where, when, what it should have done), like a sanitizer's first error.
/// </summary>
public sealed class DriverViolationException : Exception
{
    /// <summary>The exception <see cref="GuestSession.AssertNoViolations"/> throws.</summary>
    /// <param name="message">The count by rule, then the first violation's full report.</param>
    /// <param name="violations">Every unexpected violation.</param>
    public DriverViolationException(string message, IReadOnlyList<RuleViolation> violations)
        : base(message) => Violations = violations;

    /// <summary>An exception without violations (the standard constructors, for completeness).</summary>
    public DriverViolationException()
    {
        Violations = [];
    }

    /// <summary>An exception without violations, with <paramref name="message"/>.</summary>
    public DriverViolationException(string message)
        : base(message) => Violations = [];

    /// <summary>An exception without violations, caused by <paramref name="inner"/>.</summary>
    public DriverViolationException(string message, Exception inner)
        : base(message, inner) => Violations = [];

    /// <summary>The unexpected violations, in the order reported.</summary>
    public IReadOnlyList<RuleViolation> Violations { get; }
}
