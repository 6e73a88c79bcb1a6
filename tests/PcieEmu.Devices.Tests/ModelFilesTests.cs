using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Devices.Models;

namespace PcieEmu.Devices.Tests;

/// <summary>
/// The data in firmware-models/ and the spec cannot drift: every model file validates against the schema and
/// loads, and the spec's §4, §6.3 and §9.1 tables agree with registers.json. (That the files generated from
/// registers.json are current is PcieEmu.Codegen.Tests' job.)
/// </summary>
public sealed class ModelFilesTests
{
    public static TheoryData<string> ModelFiles()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(Repo.ModelsDir).Order(StringComparer.Ordinal))
        {
            if (Path.GetFileName(dir) == "schema")
            {
                continue;
            }

            foreach (var file in Directory.GetFiles(dir, "*.json").Order(StringComparer.Ordinal))
            {
                if (Path.GetFileName(file) != "registers.json")
                {
                    data.Add(Path.GetRelativePath(Repo.ModelsDir, file));
                }
            }
        }

        return data;
    }

    [Fact]
    public void There_is_at_least_the_default_model()
    {
        ((IEnumerable<object[]>)ModelFiles()).Select(row => (string)row[0]).Should().Contain(Path.Combine("pcieemu-audio", "default.json"));
    }

    [Theory]
    [MemberData(nameof(ModelFiles))]
    public void Every_model_file_validates_against_the_schema_file(string relative)
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Repo.SchemaPath));
        var validator = new JsonSchemaValidator(schema.RootElement);
        using var model = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repo.ModelsDir, relative)),
            new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });

        validator.Validate(model.RootElement).Should().BeEmpty($"{relative} must match the card model schema");
    }

    [Theory]
    [MemberData(nameof(ModelFiles))]
    public void Every_model_file_loads_and_builds_its_card(string relative)
    {
        string path = Path.Combine(Repo.ModelsDir, relative);
        var model = CardModelLoader.Load(path);

        using var card = CardFactory.Create(model, NullLoggerFactory.Instance);

        card.Model.Should().BeSameAs(model);
        card.Function.Should().NotBeNull();
    }

    [Theory]
    [MemberData(nameof(ModelFiles))]
    public void Every_model_file_points_at_the_schema(string relative)
    {
        string path = Path.Combine(Repo.ModelsDir, relative);
        using var model = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        if (model.RootElement.TryGetProperty("$schema", out var s))
        {
            Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, s.GetString()!)).Should().Be(Path.GetFullPath(Repo.SchemaPath));
        }
    }

    [Fact]
    public void The_loader_uses_the_schema_file_as_committed()
    {
        using var embedded = typeof(CardModelLoader).Assembly.GetManifestResourceStream("PcieEmu.Devices.Models.card-model.schema.json");
        embedded.Should().NotBeNull();
        using var reader = new StreamReader(embedded!);

        reader.ReadToEnd().Should().Be(File.ReadAllText(Repo.SchemaPath), "the embedded schema is the file in firmware-models/schema");
    }

    [Fact]
    public void Unknown_card_kinds_are_refused_by_the_factory()
    {
        var model = Repo.DefaultModel with { Card = "pcieemu-video" };

        var e = Assert.Throws<CardModelException>(() => CardFactory.Create(model, NullLoggerFactory.Instance));

        e.Message.Should().Contain("pcieemu-video").And.Contain(model.SourcePath);
    }

    // ------------------------------------------------------------------ spec §4 vs registers.json

    private sealed record SpecRow(uint Offset, string Name, int Width, string Access, string Reset);

    private static List<string[]> TableRows(string markdown, string heading)
    {
        var lines = markdown.Split('\n');
        int start = Array.FindIndex(lines, l => l.TrimEnd().StartsWith(heading, StringComparison.Ordinal));
        start.Should().BeGreaterThanOrEqualTo(0, $"the spec has a section \"{heading}\"");
        var rows = new List<string[]>();
        bool inTable = false;
        for (int i = start + 1; i < lines.Length && !lines[i].StartsWith('#'); i++)
        {
            string line = lines[i].Trim();
            if (!line.StartsWith('|'))
            {
                if (inTable)
                {
                    break; // the first table of the section only
                }

                continue;
            }

            inTable = true;
            var cells = line.Trim('|').Split('|').Select(c => c.Trim().Replace("`", "", StringComparison.Ordinal)).ToArray();
            if (cells.All(c => c.Length == 0 || c.All(ch => ch is '-' or ':')))
            {
                continue; // separator
            }

            rows.Add(cells);
        }

        rows.Should().HaveCountGreaterThan(1, $"the table under \"{heading}\" has a header and rows");
        return rows.Skip(1).ToList(); // drop the header
    }

    private static ulong Hex(string text) => ulong.Parse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    private static List<SpecRow> SpecRegisterTable() =>
        [.. TableRows(File.ReadAllText(Repo.SpecPath), "## 4. Register map").Select(c =>
            new SpecRow((uint)Hex(c[0]), c[1], int.Parse(c[2], CultureInfo.InvariantCulture), c[3], c[4]))];

    private static List<SpecRow> JsonRegisterTable()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Repo.RegistersJsonPath));
        var rows = new List<SpecRow>();
        foreach (var r in doc.RootElement.GetProperty("registers").EnumerateArray())
        {
            var accesses = r.GetProperty("fields").EnumerateArray().Select(f => f.GetProperty("access").GetString()!).Distinct().ToList();
            rows.Add(new SpecRow(
                (uint)Hex(r.GetProperty("offset").GetString()!),
                r.GetProperty("name").GetString()!,
                r.GetProperty("width").GetInt32(),
                accesses.Count == 1 ? accesses[0] : "mixed(" + string.Join(",", accesses) + ")",
                r.GetProperty("reset").GetString()!));
        }

        return rows;
    }

    [Fact]
    public void Spec_register_table_lists_the_same_registers_in_the_same_order_as_registers_json()
    {
        SpecRegisterTable().Select(r => r.Name).Should().Equal(JsonRegisterTable().Select(r => r.Name),
            "README.md §4 and registers.json must describe the same registers");
    }

    [Fact]
    public void Spec_register_table_agrees_with_registers_json_on_every_column()
    {
        var json = JsonRegisterTable().ToDictionary(r => r.Name);
        foreach (var spec in SpecRegisterTable())
        {
            json.Should().ContainKey(spec.Name);
            var data = json[spec.Name];
            spec.Offset.Should().Be(data.Offset, $"{spec.Name}: offset in README §4 vs registers.json");
            spec.Width.Should().Be(data.Width, $"{spec.Name}: width in README §4 vs registers.json");
            spec.Access.Should().Be(data.Access, $"{spec.Name}: access in README §4 vs the fields in registers.json");
            if (spec.Reset == "model" || data.Reset == "model")
            {
                spec.Reset.Should().Be(data.Reset, $"{spec.Name}: reset comes from the model in both or neither");
            }
            else
            {
                Hex(spec.Reset).Should().Be(Hex(data.Reset), $"{spec.Name}: reset value in README §4 vs registers.json");
                (spec.Reset.Length - 2).Should().Be(spec.Width / 4, $"{spec.Name}: the spec writes the reset with all {spec.Width / 4} digits");
            }
        }
    }

    [Fact]
    public void Spec_stream_register_table_agrees_with_the_SD_block_of_registers_json_section_9_1()
    {
        var block = PcieEmu.Codegen.RegisterMapDocument.Load(Repo.RegistersJsonPath).Blocks.Single(b => b.Name == "SD");
        var rows = TableRows(File.ReadAllText(Repo.SpecPath), "### 9.1 Stream registers");
        rows.Select(c => c[1].Split('*')[0]).Should().Equal(block.Registers.Select(r => "SD_" + r.Name),
            "README §9.1 and the SD block of registers.json must describe the same registers in the same order");
        foreach (var c in rows)
        {
            var r = block.Registers.Single(x => "SD_" + x.Name == c[1].Split('*')[0]);
            Hex(c[0].Split(' ')[0]).Should().Be(r.Offset, $"{c[1]}: offset");
            int.Parse(c[2], CultureInfo.InvariantCulture).Should().Be(r.WidthBits, $"{c[1]}: width");
            c[3].Should().Be(r.Access, $"{c[1]}: access");
            if (r.Count > 1)
            {
                c[0].Should().Contain($"+ {r.Stride}·*c*", "an array row gives its stride");
                c[1].Should().Contain($"0..{r.Count - 1}", "an array row gives its element range");
            }

            if (r.ResetFromModel)
            {
                c[4].Should().Be("model");
            }
            else
            {
                Hex(c[4]).Should().Be(r.Reset, $"{c[1]}: reset");
            }
        }
    }

    [Fact]
    public void Registers_json_describes_the_spec_version_and_bar_of_section_3()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Repo.RegistersJsonPath));
        var root = doc.RootElement;
        root.GetProperty("specVersion").GetProperty("major").GetInt32().Should().Be(1);
        root.GetProperty("specVersion").GetProperty("minor").GetInt32().Should().Be(1);
        root.GetProperty("bar").GetInt32().Should().Be(0);
        root.GetProperty("barSize").GetInt32().Should().Be(16 * 1024, "spec §3: BAR0 is 16 KiB");
    }

    [Fact]
    public void Spec_errcode_table_agrees_with_registers_json()
    {
        var spec = TableRows(File.ReadAllText(Repo.SpecPath), "### 6.3 ERRCODE")
            .Select(c => (Name: c[1], Value: ulong.Parse(c[0], CultureInfo.InvariantCulture)))
            .ToList();
        using var doc = JsonDocument.Parse(File.ReadAllText(Repo.RegistersJsonPath));
        var data = doc.RootElement.GetProperty("enums").EnumerateArray()
            .Single(e => e.GetProperty("name").GetString() == "DMA_ERR")
            .GetProperty("values").EnumerateArray()
            .Select(v => (Name: v.GetProperty("name").GetString()!, Value: v.GetProperty("value").GetUInt64()))
            .ToList();

        spec.Should().Equal(data, "README §6.3 and registers.json's DMA_ERR enum must agree");
    }

    [Fact]
    public void The_card_embeds_no_register_map()
    {
        typeof(CardModelLoader).Assembly.GetManifestResourceNames().Should().NotContain(n => n.EndsWith("registers.json", StringComparison.Ordinal),
            "the register map is compiled in (AudioRegisterTable.g.cs), not parsed at run time");
    }

    [Fact]
    public void Repository_root_is_found_from_the_test_binary_and_nowhere_above_the_filesystem_root()
    {
        string root = Repository.FindRootFrom(AppContext.BaseDirectory)!;
        File.Exists(Path.Combine(root, "PcieEmu.sln")).Should().BeTrue();
        Repository.FindRootFrom(Path.Combine(root, "firmware-models", "pcieemu-audio")).Should().Be(root);
        Repository.FindRootFrom(Path.GetTempPath()).Should().BeNull();
    }
}
