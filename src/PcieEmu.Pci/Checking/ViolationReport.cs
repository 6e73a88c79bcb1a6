using System.Globalization;
using System.Text;

namespace PcieEmu.Pci.Checking;

/// <summary>
/// The text of a violation, in the manner of a sanitizer report: the headline (rule, function, what), then what the
/// driver did and where, what went wrong first, when, what it should have done and where that is written.
/// </summary>
internal static class ViolationReport
{
    public static string Format(RuleViolation v, string? specName)
    {
        var inv = CultureInfo.InvariantCulture;
        var d = v.Details;
        var sb = new StringBuilder(512);
        string label = v.Severity == RuleSeverity.Warning ? "WARNING" : "VIOLATION";
        sb.Append(inv, $"==pcieemu== {label}: {v.Rule.Name} on {v.Function}");
        if (d.Stream is { } stream)
        {
            sb.Append(inv, $" stream {stream}");
        }

        sb.Append('\n').Append(inv, $"  {d.What}\n");
        if (v.Cause is { } cause)
        {
            sb.Append(inv, $"  by:        the guest's {cause.Describe(v.CauseRegister)}\n");
        }
        else
        {
            sb.Append("  by:        (found by the device itself, not during a guest access)\n");
        }

        if (d.Register is not null || d.RegisterOffset is not null)
        {
            sb.Append("  register:  ").Append(d.Register ?? "?");
            if (d.RegisterOffset is { } off)
            {
                sb.Append(inv, $" (BAR{d.RegisterBar ?? 0}+0x{off:x})");
            }

            if (d.Value is { } value)
            {
                sb.Append(inv, $" = 0x{value:x}");
            }

            sb.Append('\n');
        }
        else if (d.Value is { } value)
        {
            sb.Append(inv, $"  value:     0x{value:x}\n");
        }

        if (d.BadAddress is { } bad)
        {
            sb.Append(inv, $"  first bad: IOVA 0x{bad:x}");
            if (d.Descriptor is { } desc)
            {
                sb.Append(inv, $" (descriptor {desc})");
            }

            sb.Append('\n');
        }
        else if (d.Descriptor is { } desc)
        {
            sb.Append(inv, $"  descriptor: {desc}\n");
        }

        if (d.ErrorCode is not null || d.Consequence is not null)
        {
            sb.Append("  device:    ");
            if (d.ErrorCode is not null)
            {
                sb.Append("ERRCODE ").Append(d.ErrorCode);
                if (d.Consequence is not null)
                {
                    sb.Append("; ");
                }
            }

            sb.Append(d.Consequence).Append('\n');
        }

        sb.Append(inv, $"  when:      device time {Seconds(v.DeviceNanoseconds)} s, {v.WallTime.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ} (report #{v.Number})\n");
        sb.Append("  expected:  ").Append(v.Rule.Expected).Append('\n');
        sb.Append("  see:       ").Append(specName is null ? v.Rule.Section : $"{specName} {v.Rule.Section}");
        return sb.ToString();
    }

    internal static string Seconds(long nanoseconds) =>
        (nanoseconds / 1e9).ToString("0.000000000", CultureInfo.InvariantCulture);
}
