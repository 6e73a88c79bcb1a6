using System.Text;
using System.Text.Json;

namespace PcieEmu.Pci.Checking;

/// <summary>One violation as one line of JSON: the machine-readable form (CI artefacts, trace records).</summary>
internal static class ViolationJson
{
    public static string Format(RuleViolation v, bool includeWallTime)
    {
        using var stream = new MemoryStream(512);
        using (var w = new Utf8JsonWriter(stream))
        {
            var d = v.Details;
            w.WriteStartObject();
            w.WriteString("rule", v.Rule.Name);
            w.WriteString("severity", v.Severity == RuleSeverity.Warning ? "warning" : "violation");
            w.WriteString("function", v.Function);
            w.WriteString("what", d.What);
            if (d.Stream is { } s)
            {
                w.WriteNumber("stream", s);
            }

            if (d.Register is { } reg)
            {
                w.WriteString("register", reg);
            }

            if (d.RegisterOffset is { } off)
            {
                w.WriteNumber("bar", d.RegisterBar ?? 0);
                w.WriteString("offset", Hex(off));
            }

            if (d.Value is { } value)
            {
                w.WriteString("value", Hex(value));
            }

            if (d.BadAddress is { } bad)
            {
                w.WriteString("firstBadIova", Hex(bad));
            }

            if (d.Descriptor is { } desc)
            {
                w.WriteNumber("descriptor", desc);
            }

            if (d.ErrorCode is { } code)
            {
                w.WriteString("errcode", code);
            }

            if (d.Consequence is { } consequence)
            {
                w.WriteString("consequence", consequence);
            }

            w.WriteNumber("deviceTimeNs", v.DeviceNanoseconds);
            if (v.Cause is { } c)
            {
                w.WriteStartObject("cause");
                w.WriteString("kind", c.Kind.ToString());
                if (c.Kind is GuestAccessKind.BarRead or GuestAccessKind.BarWrite)
                {
                    w.WriteNumber("bar", c.Bar);
                }

                w.WriteString("offset", Hex(c.Offset));
                if (v.CauseRegister is { } causeRegister)
                {
                    w.WriteString("register", causeRegister);
                }

                w.WriteNumber("size", c.Size);
                if (c.Kind is GuestAccessKind.BarWrite or GuestAccessKind.ConfigWrite)
                {
                    w.WriteString("value", Hex(c.Value));
                }

                w.WriteNumber("sequence", c.Sequence);
                w.WriteNumber("deviceTimeNs", c.DeviceNanoseconds);
                w.WriteEndObject();
            }

            w.WriteString("section", v.Rule.Section);
            w.WriteString("expected", v.Rule.Expected);
            if (includeWallTime)
            {
                w.WriteString("wallTime", v.WallTime.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            }

            w.WriteNumber("number", v.Number);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    private static string Hex(ulong value) => "0x" + value.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
}
