using System.Globalization;
using System.Text.Json;

namespace PcieEmu.Codegen;

/// <summary>
/// A register map as data (registers.json beside a card's spec): the one source the device model, the
/// driver's C header and the spec's table are checked against. Fields carry the access class; register masks
/// are derived from them, so a bit's behaviour is written down exactly once.
/// </summary>
internal sealed class RegisterMapDocument
{
    public required string Device { get; init; }

    public required string Prefix { get; init; }

    public required int SpecMajor { get; init; }

    public required int SpecMinor { get; init; }

    public required int Bar { get; init; }

    public required ulong BarSize { get; init; }

    public required IReadOnlyList<RegisterSpec> Registers { get; init; }

    public required IReadOnlyList<EnumSpec> Enums { get; init; }

    /// <summary>Register blocks repeated at a stride (one per stream, say); their offsets are block-relative.</summary>
    public IReadOnlyList<BlockSpec> Blocks { get; init; } = [];

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

            var registers = ParseRegisterList(ctx, ctx.Array(root, "registers", "$"), "$.registers", barSize, "barSize");
            var blocks = new List<BlockSpec>();
            if (root.TryGetProperty("blocks", out var blockArray))
            {
                int b = 0;
                foreach (var bl in blockArray.EnumerateArray())
                {
                    string at = $"$.blocks[{b++}]";
                    string name = ctx.String(bl, "name", at);
                    ctx.Identifier(name, at + ".name");
                    ulong baseOffset = ctx.Number(bl, "base", at);
                    ulong stride = ctx.Number(bl, "stride", at);
                    ulong count = ctx.Number(bl, "count", at);
                    if (stride == 0 || count == 0 || count > 256 || stride % 8 != 0 || baseOffset % 8 != 0 || baseOffset + (stride * count) > barSize)
                    {
                        ctx.Fail(at, $"{name}: base 0x{baseOffset:x}, stride 0x{stride:x}, count {count} must be 8-aligned, non-empty and inside barSize");
                    }

                    var block = new BlockSpec(name, (uint)baseOffset, (uint)stride, (int)count, OptionalString(bl, "doc"),
                        ParseRegisterList(ctx, ctx.Array(bl, "registers", at), at + ".registers", stride, "the block's stride"));
                    foreach (var r in registers)
                    {
                        if (r.Offset < block.Base + (block.Stride * (ulong)block.Count) && block.Base < r.End)
                        {
                            ctx.Fail(at, $"{name} overlaps register {r.Name}");
                        }
                    }

                    foreach (var other in blocks)
                    {
                        if (block.Base < other.End && other.Base < block.End)
                        {
                            ctx.Fail(at, $"{name} overlaps block {other.Name}");
                        }
                    }

                    blocks.Add(block);
                }
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
                Blocks = blocks,
            };
        }
    }

    /// <summary>Registers of one address space of <paramref name="limit"/> bytes: names unique, aligned, no overlaps.</summary>
    private static List<RegisterSpec> ParseRegisterList(Ctx ctx, JsonElement array, string at, ulong limit, string limitName)
    {
        var registers = new List<RegisterSpec>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        int i = 0;
        foreach (var r in array.EnumerateArray())
        {
            string here = $"{at}[{i++}]";
            var reg = ParseRegister(ctx, r, here);
            if (!names.Add(reg.Name))
            {
                ctx.Fail(here, $"duplicate register name {reg.Name}");
            }

            uint bytes = (uint)(reg.WidthBits / 8);
            if (reg.Offset % bytes != 0 || reg.End > limit)
            {
                ctx.Fail(here, $"{reg.Name}: offset 0x{reg.Offset:x} misaligned or beyond {limitName} (0x{limit:x} B)");
            }

            if (reg.Count > 1 && (reg.Stride < bytes || reg.Stride % bytes != 0))
            {
                ctx.Fail(here, $"{reg.Name}: stride {reg.Stride} must be a multiple of the register width and at least it");
            }

            foreach (var other in registers)
            {
                foreach (var (_, a) in reg.Instances())
                {
                    foreach (var (_, o) in other.Instances())
                    {
                        if (a < o + (uint)(other.WidthBits / 8) && o < a + bytes)
                        {
                            ctx.Fail(here, $"{reg.Name} overlaps {other.Name}");
                        }
                    }
                }
            }

            registers.Add(reg);
        }

        return registers;
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

        ulong count = r.TryGetProperty("count", out _) ? ctx.Number(r, "count", at) : 1;
        ulong stride = r.TryGetProperty("stride", out _) ? ctx.Number(r, "stride", at) : 0;
        if (count is 0 or > 256 || (count > 1 && stride == 0) || stride > 0x1000)
        {
            ctx.Fail(at, $"{name}: an array needs count 1..256 and a non-zero stride");
        }

        // Side-effect names become methods of the generated handler interface.
        string onWrite = OptionalString(r, "onWrite");
        string onRead = OptionalString(r, "onRead");
        if (onWrite.Length > 0)
        {
            ctx.Identifier(onWrite, at + ".onWrite");
        }

        if (onRead.Length > 0)
        {
            ctx.Identifier(onRead, at + ".onRead");
        }

        return new RegisterSpec(name, offset, width, reset, fromModel, OptionalString(r, "doc"), fields,
            onWrite, onRead, (int)count, (uint)stride);
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

internal sealed record RegisterSpec(
    string Name,
    uint Offset,
    int WidthBits,
    ulong Reset,
    bool ResetFromModel,
    string Doc,
    IReadOnlyList<FieldSpec> Fields,
    string OnWrite,
    string OnRead,
    int Count = 1,
    uint Stride = 0)
{
    /// <summary>One past the last byte any element occupies.</summary>
    public ulong End => Offset + ((ulong)(Count - 1) * Stride) + (ulong)(WidthBits / 8);

    /// <summary>(name, offset) of each element: the register itself, or NAME0..NAMEn-1 of an array.</summary>
    public IEnumerable<(string Name, uint Offset)> Instances() =>
        Count == 1 ? [(Name, Offset)] : Enumerable.Range(0, Count).Select(c => ($"{Name}{c}", Offset + ((uint)c * Stride)));

    public ulong MaskOf(string access) => Fields.Where(f => f.Access == access).Aggregate(0UL, (m, f) => m | f.Mask);

    /// <summary>RO, RW, WO or W1C when all fields agree, otherwise "mixed(…)" listing the classes in field order.</summary>
    public string Access
    {
        get
        {
            var classes = Fields.Select(f => f.Access).Distinct().ToList();
            return classes.Count == 1 ? classes[0] : $"mixed({string.Join(",", classes)})";
        }
    }

    public FieldSpec Field(string name) => Fields.First(f => f.Name == name);

    /// <summary>Every bit some field defines; the others are reserved.</summary>
    public ulong ImplementedMask => Fields.Aggregate(0UL, (m, f) => m | f.Mask);

    /// <summary>Bits a write stores: RW and WO fields.</summary>
    public ulong WritableMask => MaskOf("RW") | MaskOf("WO");

    public ulong W1cMask => MaskOf("W1C");

    /// <summary>Bits a read returns: every implemented bit but the write-only ones.</summary>
    public ulong ReadMask => ImplementedMask & ~MaskOf("WO");

    public ulong ReadClearMask => MaskOf("RC");
}

internal sealed record FieldSpec(string Name, int Hi, int Lo, string Access, string Doc)
{
    public ulong Mask => (Hi - Lo == 63 ? ulong.MaxValue : ((1UL << (Hi - Lo + 1)) - 1)) << Lo;

    public string Bits => Hi == Lo ? Hi.ToString(CultureInfo.InvariantCulture) : $"{Hi}:{Lo}";
}

internal sealed record EnumSpec(string Name, string Doc, IReadOnlyList<EnumValue> Values);

/// <summary>A register block repeated <see cref="Count"/> times, <see cref="Stride"/> bytes apart, from <see cref="Base"/>.</summary>
internal sealed record BlockSpec(string Name, uint Base, uint Stride, int Count, string Doc, IReadOnlyList<RegisterSpec> Registers)
{
    public ulong End => Base + ((ulong)Stride * (ulong)Count);
}

internal sealed record EnumValue(string Name, ulong Value, string Doc);

internal sealed class RegisterMapException(string message) : Exception(message);
