using System.Collections.Frozen;

namespace PcieEmu.Pci.Checking;

/// <summary>
/// Which rules count how much: a rule's own severity unless overridden by name, and warnings promoted to violations
/// on request (e.g. <c>--rule ReservedBitsWritten=violation</c>, <c>--rule warnings=violation</c>). Immutable.
/// </summary>
public sealed class CheckerPolicy
{
    private readonly FrozenDictionary<string, RuleSeverity> _overrides;

    /// <param name="overrides">Severity by rule name (<see cref="DriverRule.Name"/>, ordinal); names not listed keep their rule's severity. Not validated: see <see cref="TryParse"/>.</param>
    /// <param name="warningsAreViolations">Count every rule that ends up a warning as a violation.</param>
    public CheckerPolicy(IReadOnlyDictionary<string, RuleSeverity>? overrides = null, bool warningsAreViolations = false)
    {
        _overrides = (overrides ?? new Dictionary<string, RuleSeverity>()).ToFrozenDictionary(StringComparer.Ordinal);
        WarningsAreViolations = warningsAreViolations;
    }

    /// <summary>Every rule at its declared severity.</summary>
    public static CheckerPolicy Default { get; } = new();

    /// <summary>Warnings are promoted to violations (after the overrides apply).</summary>
    public bool WarningsAreViolations { get; }

    /// <summary>The severity set for each overridden rule, by name.</summary>
    public IReadOnlyDictionary<string, RuleSeverity> Overrides => _overrides;

    /// <summary>How much <paramref name="rule"/> counts under this policy: its override, else its own severity; then a warning becomes a violation if <see cref="WarningsAreViolations"/>.</summary>
    public RuleSeverity SeverityOf(DriverRule rule)
    {
        var s = _overrides.TryGetValue(rule.Name, out var o) ? o : rule.Severity;
        return s == RuleSeverity.Warning && WarningsAreViolations ? RuleSeverity.Violation : s;
    }

    /// <summary>
    /// Parses "NAME=off|warning|violation" settings (and "warnings=violation", which promotes every warning).
    /// Unknown rule names are refused when <paramref name="knownRules"/> is given: a misspelt rule must not silently
    /// do nothing. Severities are case-insensitive and accept the aliases ignore, warn and error.
    /// </summary>
    /// <param name="settings">The settings, in order (a later one for the same rule wins).</param>
    /// <param name="knownRules">The rule names that exist (e.g. <see cref="FunctionRules.All"/> and the card's), or null to accept any name.</param>
    /// <param name="policy">The policy; <see cref="Default"/> when parsing fails.</param>
    /// <param name="error">Why parsing failed, naming the setting; empty on success.</param>
    /// <returns>False on the first malformed setting, unknown severity or unknown rule name.</returns>
    public static bool TryParse(IEnumerable<string> settings, IReadOnlyCollection<string>? knownRules, out CheckerPolicy policy, out string error)
    {
        var overrides = new Dictionary<string, RuleSeverity>(StringComparer.Ordinal);
        bool promote = false;
        policy = Default;
        error = "";
        foreach (var setting in settings)
        {
            int eq = setting.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == setting.Length - 1)
            {
                error = $"rule setting '{setting}' is not NAME=off|warning|violation";
                return false;
            }

            string name = setting[..eq];
            if (!TryParseSeverity(setting[(eq + 1)..], out var severity))
            {
                error = $"rule setting '{setting}': the severity must be off, warning or violation";
                return false;
            }

            if (name == "warnings")
            {
                if (severity is not (RuleSeverity.Violation or RuleSeverity.Warning))
                {
                    error = "'warnings=' takes violation (promote every warning) or warning";
                    return false;
                }

                promote = severity == RuleSeverity.Violation;
                continue;
            }

            if (knownRules is not null && !knownRules.Contains(name))
            {
                error = $"rule setting '{setting}': no rule is called '{name}' (known: {string.Join(", ", knownRules.Order(StringComparer.Ordinal))})";
                return false;
            }

            overrides[name] = severity;
        }

        policy = new CheckerPolicy(overrides, promote);
        return true;
    }

    private static bool TryParseSeverity(string text, out RuleSeverity severity)
    {
        severity = text.ToLowerInvariant() switch
        {
            "off" or "ignore" => RuleSeverity.Off,
            "warning" or "warn" => RuleSeverity.Warning,
            "violation" or "error" => RuleSeverity.Violation,
            _ => (RuleSeverity)(-1),
        };
        return Enum.IsDefined(severity);
    }
}
