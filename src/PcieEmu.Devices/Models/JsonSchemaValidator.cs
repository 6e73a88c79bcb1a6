using System.Text.Json;
using System.Text.RegularExpressions;

namespace PcieEmu.Devices.Models;

/// <summary>
/// Validates JSON against the subset of JSON Schema (2020-12) our model schemas use: type, const, enum,
/// properties, required, additionalProperties (boolean), items, minItems, maxItems, uniqueItems, minimum,
/// maximum, minLength, maxLength, pattern, oneOf, anyOf and local $ref ("#/$defs/…"). Other keywords are
/// annotations. Errors carry the JSON path of the offending value, so a bad model file says where.
/// </summary>
internal sealed class JsonSchemaValidator
{
    private static readonly HashSet<string> KnownKeywords =
    [
        "$schema", "$id", "$defs", "$comment", "title", "description", "type", "const", "enum", "properties", "required",
        "additionalProperties", "items", "minItems", "maxItems", "uniqueItems", "minimum", "maximum", "minLength",
        "maxLength", "pattern", "oneOf", "anyOf", "$ref", "default", "examples",
    ];

    private readonly JsonElement _root;

    /// <summary>Takes a copy of <paramref name="schema"/> and checks that it uses only the keywords above.</summary>
    /// <exception cref="ArgumentException">The schema uses a keyword outside the subset, a non-boolean
    /// additionalProperties, a boolean subschema, or an items, oneOf or anyOf entry that is not a schema object.</exception>
    public JsonSchemaValidator(JsonElement schema)
    {
        _root = schema.Clone();
        CheckKeywords(_root, "#");
    }

    /// <summary>All violations, each "JSON path: what is wrong"; empty when the instance conforms.</summary>
    /// <exception cref="ArgumentException">A $ref met on the way is not local ("#/…") or does not resolve.</exception>
    public IReadOnlyList<string> Validate(JsonElement instance)
    {
        var errors = new List<string>();
        Validate(_root, instance, "$", errors);
        return errors;
    }

    private static void CheckKeywords(JsonElement schema, string at)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var p in schema.EnumerateObject())
        {
            if (!KnownKeywords.Contains(p.Name))
            {
                throw new ArgumentException($"schema keyword '{p.Name}' at {at} is not supported by this validator");
            }

            if (p.Name == "additionalProperties" && p.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                throw new ArgumentException($"at {at}: only boolean additionalProperties is supported");
            }

            if (p.Name is "items" && p.Value.ValueKind != JsonValueKind.Object)
            {
                throw new ArgumentException($"at {at}: items must be a schema object");
            }

            if (p.Name is "oneOf" or "anyOf" && p.Value.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Object))
            {
                throw new ArgumentException($"at {at}: {p.Name} entries must be schema objects");
            }

            switch (p.Name)
            {
                case "properties":
                case "$defs":
                    foreach (var child in p.Value.EnumerateObject())
                    {
                        if (child.Value.ValueKind != JsonValueKind.Object)
                        {
                            throw new ArgumentException($"at {at}/{p.Name}/{child.Name}: boolean subschemas are not supported");
                        }

                        CheckKeywords(child.Value, $"{at}/{p.Name}/{child.Name}");
                    }

                    break;
                case "items":
                    CheckKeywords(p.Value, at + "/items");
                    break;
                case "oneOf":
                case "anyOf":
                    int i = 0;
                    foreach (var s in p.Value.EnumerateArray())
                    {
                        CheckKeywords(s, $"{at}/{p.Name}/{i++}");
                    }

                    break;
            }
        }
    }

    private void Validate(JsonElement schema, JsonElement value, string path, List<string> errors)
    {
        if (schema.TryGetProperty("$ref", out var reference))
        {
            Validate(Resolve(reference.GetString()!), value, path, errors);
        }

        if (schema.TryGetProperty("type", out var type) && !TypeMatches(type, value))
        {
            errors.Add($"{path}: expected {Describe(type)}, found {Kind(value)}");
            return;
        }

        if (schema.TryGetProperty("const", out var constant) && !JsonEquals(constant, value))
        {
            errors.Add($"{path}: must be {constant.GetRawText()}");
        }

        if (schema.TryGetProperty("enum", out var options) && !options.EnumerateArray().Any(o => JsonEquals(o, value)))
        {
            errors.Add($"{path}: {value.GetRawText()} is not one of {string.Join(", ", options.EnumerateArray().Select(o => o.GetRawText()))}");
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                ValidateObject(schema, value, path, errors);
                break;
            case JsonValueKind.Array:
                ValidateArray(schema, value, path, errors);
                break;
            case JsonValueKind.Number:
                ValidateNumber(schema, value, path, errors);
                break;
            case JsonValueKind.String:
                ValidateString(schema, value, path, errors);
                break;
        }

        if (schema.TryGetProperty("oneOf", out var oneOf))
        {
            int matches = oneOf.EnumerateArray().Count(s => Passes(s, value, path));
            if (matches != 1)
            {
                errors.Add($"{path}: {value.GetRawText()} must match exactly one allowed form (matched {matches})");
            }
        }

        if (schema.TryGetProperty("anyOf", out var anyOf) && !anyOf.EnumerateArray().Any(s => Passes(s, value, path)))
        {
            errors.Add($"{path}: {value.GetRawText()} matches none of the allowed forms");
        }
    }

    private bool Passes(JsonElement schema, JsonElement value, string path)
    {
        var scratch = new List<string>();
        Validate(schema, value, path, scratch);
        return scratch.Count == 0;
    }

    private void ValidateObject(JsonElement schema, JsonElement value, string path, List<string> errors)
    {
        if (schema.TryGetProperty("required", out var required))
        {
            foreach (var r in required.EnumerateArray())
            {
                if (!value.TryGetProperty(r.GetString()!, out _))
                {
                    errors.Add($"{path}: missing required property \"{r.GetString()}\"");
                }
            }
        }

        schema.TryGetProperty("properties", out var properties);
        bool closed = schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.False;
        foreach (var p in value.EnumerateObject())
        {
            if (properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(p.Name, out var propertySchema))
            {
                Validate(propertySchema, p.Value, $"{path}.{p.Name}", errors);
            }
            else if (closed)
            {
                errors.Add($"{path}: unknown property \"{p.Name}\"");
            }
        }
    }

    private void ValidateArray(JsonElement schema, JsonElement value, string path, List<string> errors)
    {
        int n = value.GetArrayLength();
        if (schema.TryGetProperty("minItems", out var min) && n < min.GetInt32())
        {
            errors.Add($"{path}: needs at least {min.GetInt32()} item(s), has {n}");
        }

        if (schema.TryGetProperty("maxItems", out var max) && n > max.GetInt32())
        {
            errors.Add($"{path}: allows at most {max.GetInt32()} item(s), has {n}");
        }

        if (schema.TryGetProperty("uniqueItems", out var unique) && unique.ValueKind == JsonValueKind.True)
        {
            // Equal as JSON values, not as text: 1 and 1.0, or objects with their members reordered, are duplicates.
            var seen = new List<JsonElement>();
            foreach (var item in value.EnumerateArray())
            {
                if (seen.Any(s => JsonEquals(s, item)))
                {
                    errors.Add($"{path}: duplicate item {item.GetRawText()}");
                }
                else
                {
                    seen.Add(item);
                }
            }
        }

        if (schema.TryGetProperty("items", out var items))
        {
            int i = 0;
            foreach (var item in value.EnumerateArray())
            {
                Validate(items, item, $"{path}[{i++}]", errors);
            }
        }
    }

    private static void ValidateNumber(JsonElement schema, JsonElement value, string path, List<string> errors)
    {
        double v = value.GetDouble();
        if (schema.TryGetProperty("minimum", out var min) && v < min.GetDouble())
        {
            errors.Add($"{path}: {value.GetRawText()} is below the minimum {min.GetRawText()}");
        }

        if (schema.TryGetProperty("maximum", out var max) && v > max.GetDouble())
        {
            errors.Add($"{path}: {value.GetRawText()} is above the maximum {max.GetRawText()}");
        }
    }

    private static void ValidateString(JsonElement schema, JsonElement value, string path, List<string> errors)
    {
        string s = value.GetString()!;
        int length = s.EnumerateRunes().Count(); // JSON Schema counts code points, not UTF-16 units
        if (schema.TryGetProperty("minLength", out var min) && length < min.GetInt32())
        {
            errors.Add($"{path}: shorter than {min.GetInt32()} characters");
        }

        if (schema.TryGetProperty("maxLength", out var max) && length > max.GetInt32())
        {
            errors.Add($"{path}: longer than {max.GetInt32()} characters");
        }

        if (schema.TryGetProperty("pattern", out var pattern) && !Regex.IsMatch(s, pattern.GetString()!, RegexOptions.None, TimeSpan.FromSeconds(1)))
        {
            errors.Add($"{path}: \"{s}\" does not match {pattern.GetString()}");
        }
    }

    private JsonElement Resolve(string reference)
    {
        if (!reference.StartsWith("#/", StringComparison.Ordinal))
        {
            throw new ArgumentException($"only local $refs are supported: {reference}");
        }

        var node = _root;
        foreach (var part in reference[2..].Split('/'))
        {
            if (!node.TryGetProperty(part, out node))
            {
                throw new ArgumentException($"$ref {reference} does not resolve");
            }
        }

        return node;
    }

    private static bool TypeMatches(JsonElement type, JsonElement value) =>
        type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Any(t => IsType(t.GetString()!, value)) : IsType(type.GetString()!, value);

    private static bool IsType(string type, JsonElement value) => type switch
    {
        "object" => value.ValueKind == JsonValueKind.Object,
        "array" => value.ValueKind == JsonValueKind.Array,
        "string" => value.ValueKind == JsonValueKind.String,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => value.ValueKind == JsonValueKind.Null,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => IsInteger(value),
        _ => false,
    };

    private static string Describe(JsonElement type) =>
        type.ValueKind == JsonValueKind.Array ? string.Join(" or ", type.EnumerateArray().Select(t => t.GetString())) : type.GetString()!;

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => IsInteger(value) ? "integer" : "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => value.ValueKind.ToString().ToLowerInvariant(),
    };

    /// <summary>"integer" is any number with a zero fractional part (2020-12 validation §6.1.1): 3, 3.0 and 3e0 alike.</summary>
    private static bool IsInteger(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Number)
        {
            return false;
        }

        if (value.TryGetInt64(out _) || value.TryGetUInt64(out _))
        {
            return true;
        }

        if (value.TryGetDecimal(out decimal d))
        {
            return decimal.Truncate(d) == d;
        }

        return value.TryGetDouble(out double x) && double.IsFinite(x) && Math.Floor(x) == x;
    }

    /// <summary>JSON value equality (const, enum, uniqueItems): numbers by value, strings unescaped, objects unordered.</summary>
    private static bool JsonEquals(JsonElement a, JsonElement b) => JsonElement.DeepEquals(a, b);
}
