using System.Globalization;
using System.Text.Json;

namespace PcieEmu.Pci.Registers;

/// <summary>
/// A register map as data (registers.json beside a card's spec): the one source the device model, the
/// driver's C header and the spec's table are checked against. Fields carry the access class; register masks
/// are derived from them, so a bit's behaviour is written down exactly once.
/// </summary>
public sealed class RegisterMapDocument
{
    public required string Device { get; init; }

    public required string Prefix { get; init; }

    public required int SpecMajor { get; init; }

    public required int SpecMinor { get; init; }

    public required int Bar { get; init; }

    public required ulong BarSize { get; init; }

    public required IReadOnlyList<RegisterSpec> Registers { get; init; }

    public required IReadOnlyList<EnumSpec> Enums { get; init; }

    public static RegisterMapDocument Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (IOException e)
        {
            throw new RegisterMapException($"{path}: cannot read: {e.Message}");
        }

        return Parse(text, path);
    }

    public static RegisterMapDocument Parse(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new RegisterMapException($"{source}: not valid JSON: {e.Message}");
        }

        using (doc)
        {
            var root = doc.RootElement;
            var ctx = new Ctx(source);
            string device = ctx.String(root, "device", "$");
            string prefix = ctx.String(root, "prefix", "$");
            ctx.Identifier(prefix, "$.prefix");
            var version = ctx.Object(root, "specVersion", "$");
            int major = (int)ctx.Number(version, "major", "$.specVersion");
            int minor = (int)ctx.Number(version, "minor", "$.specVersion");
            int bar = (int)ctx.Number(root, "bar", "$");
            ulong barSize = ctx.Number(root, "barSize", "$");

            var registers = new List<RegisterSpec>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            int i = 0;
            foreach (var r in ctx.Array(root, "registers", "$").EnumerateArray())
            {
                string at = $"$.registers[{i++}]";
                var reg = ParseRegister(ctx, r, at);
                if (!names.Add(reg.Name))
                {
                    ctx.Fail(at, $"duplicate register name {reg.Name}");
                }

                if (reg.Offset % (uint)(reg.WidthBits / 8) != 0 || reg.Offset + (ulong)(reg.WidthBits / 8) > barSize)
                {
                    ctx.Fail(at, $"{reg.Name}: offset 0x{reg.Offset:x} misaligned or beyond barSize");
                }

                foreach (var other in registers)
                {
                    if (reg.Offset < other.Offset + (uint)(other.WidthBits / 8) && other.Offset < reg.Offset + (uint)(reg.WidthBits / 8))
                    {
                        ctx.Fail(at, $"{reg.Name} overlaps {other.Name}");
                    }
                }

                registers.Add(reg);
            }

            var enums = new List<EnumSpec>();
            if (root.TryGetProperty("enums", out var enumArray))
            {
                int e = 0;
                foreach (var en in enumArray.EnumerateArray())
                {
                    string at = $"$.enums[{e++}]";
                    string name = ctx.String(en, "name", at);
                    ctx.Identifier(name, at + ".name");
                    var values = new List<EnumValue>();
                    foreach (var v in ctx.Array(en, "values", at).EnumerateArray())
                    {
                        string vn = ctx.String(v, "name", at);
                        ctx.Identifier(vn, at + ".values");
                        values.Add(new EnumValue(vn, ctx.Number(v, "value", at), OptionalString(v, "doc")));
                    }

                    enums.Add(new EnumSpec(name, OptionalString(en, "doc"), values));
                }
            }

            return new RegisterMapDocument
            {
                Device = device,
                Prefix = prefix,
                SpecMajor = major,
                SpecMinor = minor,
                Bar = bar,
                BarSize = barSize,
                Registers = registers,
                Enums = enums,
            };
        }
    }

    private static RegisterSpec ParseRegister(Ctx ctx, JsonElement r, string at)
    {
        string name = ctx.String(r, "name", at);
        ctx.Identifier(name, at + ".name");
        ulong offsetValue = ctx.Number(r, "offset", at);
        if (offsetValue > uint.MaxValue)
        {
            ctx.Fail(at, $"{name}: offset 0x{offsetValue:x} misaligned or beyond barSize");
        }

        uint offset = (uint)offsetValue;
        ulong widthValue = ctx.Number(r, "width", at);
        int width = widthValue is 32 or 64 ? (int)widthValue : 0;
        if (width == 0)
        {
            ctx.Fail(at, $"{name}: width must be 32 or 64");
        }

        string resetText = ctx.String(r, "reset", at);
        bool fromModel = resetText == "model";
        ulong reset = fromModel ? 0 : ctx.ParseNumber(resetText, at + ".reset");
        if (width == 32 && reset > uint.MaxValue)
        {
            ctx.Fail(at, $"{name}: reset 0x{reset:x} does not fit in {width} bits");
        }

        var fields = new List<FieldSpec>();
        ulong used = 0;
        foreach (var f in ctx.Array(r, "fields", at).EnumerateArray())
        {
            string fn = ctx.String(f, "name", at);
            ctx.Identifier(fn, at + ".fields");
            var (hi, lo) = ParseBits(ctx, ctx.String(f, "bits", at), at, fn);
            if (hi >= width)
            {
                ctx.Fail(at, $"{name}.{fn}: bits beyond the register width");
            }

            string access = ctx.String(f, "access", at);
            if (access is not ("RO" or "RW" or "WO" or "W1C" or "RC"))
            {
                ctx.Fail(at, $"{name}.{fn}: access must be RO, RW, WO, W1C or RC");
            }

            var field = new FieldSpec(fn, hi, lo, access, OptionalString(f, "doc"));
            if ((used & field.Mask) != 0)
            {
                ctx.Fail(at, $"{name}.{fn} overlaps another field");
            }

            used |= field.Mask;
            fields.Add(field);
        }

        if (!fromModel && (reset & ~used) != 0)
        {
            ctx.Fail(at, $"{name}: reset 0x{reset:x} sets bits 0x{reset & ~used:x} that no field defines");
        }

        return new RegisterSpec(name, offset, width, reset, fromModel, OptionalString(r, "doc"), fields,
            OptionalString(r, "onWrite"), OptionalString(r, "onRead"));
    }

    private static (int Hi, int Lo) ParseBits(Ctx ctx, string bits, string at, string field)
    {
        var parts = bits.Split(':');
        int hi = 0;
        bool ok = parts.Length is 1 or 2
                  && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out hi)
                  && (parts.Length == 1 || int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out _));
        if (!ok)
        {
            ctx.Fail(at, $"{field}: bits must be \"N\" or \"HI:LO\"");
        }

        int lo = parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : hi;
        if (lo > hi || hi > 63)
        {
            ctx.Fail(at, $"{field}: bad bit range {bits}");
        }

        return (hi, lo);
    }

    private static string OptionalString(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

    /// <summary>
    /// Register definitions with side effects bound by name. Every name the map uses must be supplied and every
    /// supplied handler must be used, so the data and the code cannot silently disagree.
    /// </summary>
    public IReadOnlyList<RegisterDefinition> CreateDefinitions(
        IReadOnlyDictionary<string, RegisterWriteHandler> writeHandlers,
        IReadOnlyDictionary<string, RegisterReadHandler> readHandlers,
        Func<string, ulong>? modelReset = null)
    {
        var usedWrites = new HashSet<string>();
        var usedReads = new HashSet<string>();
        var result = new List<RegisterDefinition>();
        foreach (var r in Registers)
        {
            RegisterWriteHandler? onWrite = null;
            RegisterReadHandler? onRead = null;
            if (r.OnWrite.Length > 0)
            {
                if (!writeHandlers.TryGetValue(r.OnWrite, out onWrite))
                {
                    throw new RegisterMapException($"{Device}: register {r.Name} names write side effect '{r.OnWrite}', which the device does not implement");
                }

                usedWrites.Add(r.OnWrite);
            }

            if (r.OnRead.Length > 0)
            {
                if (!readHandlers.TryGetValue(r.OnRead, out onRead))
                {
                    throw new RegisterMapException($"{Device}: register {r.Name} names read handler '{r.OnRead}', which the device does not implement");
                }

                usedReads.Add(r.OnRead);
            }

            ulong reset = r.ResetFromModel
                ? (modelReset ?? throw new RegisterMapException($"{Device}: {r.Name} takes its reset value from the model, but none was supplied"))(r.Name)
                : r.Reset;
            result.Add(r.ToDefinition(reset, onWrite, onRead));
        }

        var unusedWrites = writeHandlers.Keys.Where(k => !usedWrites.Contains(k)).ToList();
        var unusedReads = readHandlers.Keys.Where(k => !usedReads.Contains(k)).ToList();
        if (unusedWrites.Count > 0 || unusedReads.Count > 0)
        {
            throw new RegisterMapException($"{Device}: side effects implemented but named by no register: {string.Join(", ", unusedWrites.Concat(unusedReads))}");
        }

        return result;
    }

    public RegisterSpec this[string name] => Registers.FirstOrDefault(r => r.Name == name)
        ?? throw new KeyNotFoundException($"no register {name} in {Device}");

    private sealed class Ctx(string source)
    {
        public string String(JsonElement e, string name, string at)
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String)
            {
                Fail(at, $"missing string \"{name}\"");
            }

            return e.GetProperty(name).GetString()!;
        }

        public JsonElement Object(JsonElement e, string name, string at)
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Object)
            {
                Fail(at, $"missing object \"{name}\"");
            }

            return e.GetProperty(name);
        }

        public JsonElement Array(JsonElement e, string name, string at)
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array)
            {
                Fail(at, $"missing array \"{name}\"");
            }

            return e.GetProperty(name);
        }

        public ulong Number(JsonElement e, string name, string at)
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var v))
            {
                Fail(at, $"missing number \"{name}\"");
            }

            var value = e.GetProperty(name);
            if (value.ValueKind == JsonValueKind.Number && value.TryGetUInt64(out ulong n))
            {
                return n;
            }

            if (value.ValueKind == JsonValueKind.String)
            {
                return ParseNumber(value.GetString()!, $"{at}.{name}");
            }

            Fail(at, $"\"{name}\" must be a non-negative integer or a \"0x…\" string");
            return 0;
        }

        public ulong ParseNumber(string text, string at)
        {
            bool ok = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                ? ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v)
                : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out v);
            if (!ok)
            {
                Fail(at, $"'{text}' is not a number");
            }

            return v;
        }

        public void Identifier(string name, string at)
        {
            if (name.Length == 0 || !(char.IsAsciiLetter(name[0]) || name[0] == '_') || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                Fail(at, $"'{name}' is not a C identifier");
            }
        }

        [System.Diagnostics.CodeAnalysis.DoesNotReturn]
        public void Fail(string at, string message) => throw new RegisterMapException($"{source}: {at}: {message}");
    }
}

public sealed record RegisterSpec(
    string Name,
    uint Offset,
    int WidthBits,
    ulong Reset,
    bool ResetFromModel,
    string Doc,
    IReadOnlyList<FieldSpec> Fields,
    string OnWrite,
    string OnRead)
{
    public ulong MaskOf(string access) => Fields.Where(f => f.Access == access).Aggregate(0UL, (m, f) => m | f.Mask);

    /// <summary>RO, RW, WO or W1C when all fields agree, otherwise "mixed".</summary>
    public string Access => Fields.Select(f => f.Access).Distinct().Count() == 1 ? Fields[0].Access : "mixed";

    public FieldSpec Field(string name) => Fields.First(f => f.Name == name);

    public RegisterDefinition ToDefinition(ulong reset, RegisterWriteHandler? onWrite, RegisterReadHandler? onRead)
    {
        ulong implemented = Fields.Aggregate(0UL, (m, f) => m | f.Mask);
        ulong wo = MaskOf("WO");
        return new RegisterDefinition(
            Name,
            Offset,
            WidthBits / 8,
            reset,
            implemented,
            WritableMask: MaskOf("RW") | wo,
            W1cMask: MaskOf("W1C"),
            ReadMask: implemented & ~wo,
            ReadClearMask: MaskOf("RC"),
            OnWrite: onWrite,
            OnRead: onRead,
            Doc: Doc);
    }
}

public sealed record FieldSpec(string Name, int Hi, int Lo, string Access, string Doc)
{
    public ulong Mask => (Hi - Lo == 63 ? ulong.MaxValue : ((1UL << (Hi - Lo + 1)) - 1)) << Lo;

    public string Bits => Hi == Lo ? Hi.ToString(CultureInfo.InvariantCulture) : $"{Hi}:{Lo}";
}

public sealed record EnumSpec(string Name, string Doc, IReadOnlyList<EnumValue> Values);

public sealed record EnumValue(string Name, ulong Value, string Doc);

public sealed class RegisterMapException(string message) : Exception(message);
