using System.Globalization;

namespace PcieEmu.Codegen.Tests;

/// <summary>registers.json as the single source of a register map, and the code generated from it.</summary>
public class RegisterMapDocumentTests
{
    private static RegisterMapDocument LoadAudio() => RegisterMapDocument.Load(Repository.AudioModel("registers.json"));

    // ------------------------------------------------------------------ the audio card's map

    [Fact]
    public void Audio_map_loads_with_its_header_fields()
    {
        var map = LoadAudio();
        map.Device.Should().Be("pcieemu-audio");
        map.Prefix.Should().Be("PEA");
        (map.SpecMajor, map.SpecMinor).Should().Be((1, 1));
        map.Bar.Should().Be(0);
        map.BarSize.Should().Be(16 * 1024, "audio spec §3: BAR0 is 16 KiB");
        map.Registers.Should().HaveCount(19);
        map.Enums.Should().ContainSingle(e => e.Name == "DMA_ERR").Which.Values.Should().HaveCount(17, "spec §6.3 lists codes 0–16");
    }

    [Fact]
    public void Audio_map_derives_masks_from_field_access_classes()
    {
        var map = LoadAudio();

        var intsts = map["INTSTS"];
        intsts.W1cMask.Should().Be(0x7);
        intsts.WritableMask.Should().Be(0);
        intsts.ReadMask.Should().Be(0xFFFF_0007, "W1C causes and the read-only stream summary SIS (spec §4)");

        var gctl = map["GCTL"];
        gctl.WritableMask.Should().Be(0x1);
        (gctl.ReadMask & 0x1).Should().Be(0, "GCTL.RESET is write-only and reads 0 (spec §4)");

        var inten = map["INTEN"];
        inten.WritableMask.Should().Be(0x7);

        var sts = map["DIAG_DMA_STS"];
        sts.ImplementedMask.Should().Be(0xFF07);
        sts.ReadMask.Should().Be(0xFF07);
        sts.WritableMask.Should().Be(0);

        var irq = map["DIAG_IRQ"];
        irq.WritableMask.Should().Be(0xFF);
        irq.ReadMask.Should().Be(0);

        var scratch64 = map["SCRATCH64"];
        scratch64.WidthBits.Should().Be(64);
        scratch64.WritableMask.Should().Be(ulong.MaxValue);

        map["CAPS"].ResetFromModel.Should().BeTrue();
        map["ID"].Reset.Should().Be(0x5045_4155);
        map["INTSTS"].Access.Should().Be("mixed(W1C,RO)");
        map["CAPS"].Field("NVEC").Mask.Should().Be(0x00FF_0000);
        map["CAPS"].Field("NVEC").Bits.Should().Be("23:16");
    }

    [Fact]
    public void Audio_spec_register_table_agrees_with_registers_json_README_4()
    {
        var map = LoadAudio();
        var rows = ReadmeRegisterTable();

        rows.Select(r => r.Name).Should().Equal(map.Registers.Select(r => r.Name));
        foreach (var row in rows)
        {
            var r = map[row.Name];
            r.Offset.Should().Be(row.Offset, row.Name);
            r.WidthBits.Should().Be(row.Width, row.Name);
            r.Access.Should().Be(row.Access, row.Name);
            if (row.Reset == "model")
            {
                r.ResetFromModel.Should().BeTrue(row.Name);
            }
            else
            {
                r.ResetFromModel.Should().BeFalse(row.Name);
                r.Reset.Should().Be(ulong.Parse(row.Reset.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture), row.Name);
            }
        }
    }

    [Fact]
    public void Load_of_a_missing_file_is_a_RegisterMapException()
    {
        var act = () => RegisterMapDocument.Load(Path.Combine(Repository.Root, "no-such-dir", "registers.json"));
        act.Should().Throw<RegisterMapException>().WithMessage("*cannot read*");
    }

    // ------------------------------------------------------------------ malformed documents

    [Fact]
    public void Bad_json_names_the_source()
    {
        var act = () => RegisterMapDocument.Parse("{ \"device\": ", "broken.json");
        act.Should().Throw<RegisterMapException>().WithMessage("broken.json: not valid JSON*");
    }

    [Theory]
    [InlineData("""{"name":"A","offset":"0x0","width":64,"reset":"0","fields":[]}, {"name":"B","offset":"0x4","width":32,"reset":"0","fields":[]}""", "*$.registers[1]*B overlaps A*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0","fields":[]}, {"name":"A","offset":"0x4","width":32,"reset":"0","fields":[]}""", "*duplicate register name A*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0","fields":[{"name":"X","bits":"3:0","access":"RW"},{"name":"Y","bits":"2","access":"RO"}]}""", "*A.Y overlaps another field*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0","fields":[{"name":"X","bits":"32","access":"RW"}]}""", "*A.X: bits beyond the register width*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0","fields":[{"name":"X","bits":"0","access":"RW1S"}]}""", "*A.X: access must be*")]
    [InlineData("""{"name":"1ST","offset":"0x0","width":32,"reset":"0","fields":[]}""", "*'1ST' is not a C identifier*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0","fields":[{"name":"RUN-BIT","bits":"0","access":"RW"}]}""", "*'RUN-BIT' is not a C identifier*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0","onWrite":"Start-Engine","fields":[]}""", "*$.registers[0].onWrite: 'Start-Engine' is not a C identifier*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0","onRead":"2nd","fields":[]}""", "*$.registers[0].onRead: '2nd' is not a C identifier*")]
    [InlineData("""{"name":"A","offset":"0x0","width":16,"reset":"0","fields":[]}""", "*width must be 32 or 64*")]
    [InlineData("""{"name":"A","offset":"0x2","width":32,"reset":"0","fields":[]}""", "*misaligned or beyond barSize*")]
    [InlineData("""{"name":"A","offset":"0x100","width":32,"reset":"0","fields":[]}""", "*misaligned or beyond barSize*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0"}""", "*missing array \"fields\"*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0","fields":[{"name":"X","bits":"a:b","access":"RW"}]}""", "*bits must be*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0","fields":[{"name":"X","bits":"0:3","access":"RW"}]}""", "*bad bit range 0:3*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0xZZ","fields":[]}""", "*'0xZZ' is not a number*")]
    [InlineData("""{"name":"A","offset":-4,"width":32,"reset":"0","fields":[]}""", "*\"offset\" must be a non-negative integer*")]
    [InlineData("""{"name":"A","offset":"0x100000000","width":32,"reset":"0","fields":[]}""", "*A: offset 0x100000000 misaligned or beyond barSize*")]
    [InlineData("""{"name":"A","offset":"0x0","width":32,"reset":"0x100000000","fields":[]}""", "*A: reset 0x100000000 does not fit in 32 bits*")]
    public void Malformed_registers_are_rejected_with_a_useful_message(string registers, string message)
    {
        var act = () => RegisterMapDocument.Parse(Doc(registers), "test.json");
        act.Should().Throw<RegisterMapException>().WithMessage("test.json: " + message);
    }

    [Fact]
    public void Missing_top_level_properties_are_named()
    {
        var act = () => RegisterMapDocument.Parse("""{"device":"d","specVersion":{"major":1,"minor":0},"bar":0,"barSize":256,"registers":[]}""", "t.json");
        act.Should().Throw<RegisterMapException>().WithMessage("*missing string \"prefix\"*");
    }

    [Fact]
    public void Bad_enum_value_names_are_rejected()
    {
        string json = Doc("", enums: """[{"name":"MODE","values":[{"name":"fast mode","value":1}]}]""");
        var act = () => RegisterMapDocument.Parse(json, "t.json");
        act.Should().Throw<RegisterMapException>().WithMessage("*'fast mode' is not a C identifier*");
    }

    [Fact]
    public void Comments_trailing_commas_numbers_and_hex_strings_are_accepted()
    {
        string json = """
            {
              // a comment
              "device": "d", "prefix": "D", "specVersion": { "major": 1, "minor": 2 },
              "bar": 2, "barSize": "0x1000",
              "registers": [
                { "name": "A", "offset": 8, "width": 64, "reset": "0x8000000000000000", "fields": [ { "name": "F", "bits": "63", "access": "RC" }, ] },
              ],
            }
            """;
        var map = RegisterMapDocument.Parse(json, "t.json");
        map.BarSize.Should().Be(0x1000);
        map.Registers[0].Offset.Should().Be(8);
        map.Registers[0].Reset.Should().Be(1UL << 63);
        var def = map.Registers[0];
        def.ReadClearMask.Should().Be(1UL << 63);
        def.ReadMask.Should().Be(1UL << 63);
        map.Enums.Should().BeEmpty();
    }

    [Fact]
    public void A_reset_value_with_bits_no_field_defines_is_rejected()
    {
        string json = """
            { "device": "d", "prefix": "D", "specVersion": { "major": 1, "minor": 0 }, "bar": 0, "barSize": 64,
              "registers": [ { "name": "A", "offset": 0, "width": 32, "reset": "0x3", "fields": [ { "name": "F", "bits": "0", "access": "RW" } ] } ] }
            """;
        var act = () => RegisterMapDocument.Parse(json, "t.json");
        act.Should().Throw<RegisterMapException>().WithMessage("*A: reset 0x3 sets bits 0x2 that no field defines*");
    }

    [Fact]
    public void Audio_map_has_the_stream_block_of_spec_9_1_with_its_channel_volume_array()
    {
        var map = LoadAudio();
        var sd = map.Blocks.Should().ContainSingle(b => b.Name == "SD").Subject;
        (sd.Base, sd.Stride, sd.Count).Should().Be((0x1000u, 0x100u, 16));
        var chvol = sd.Registers.Single(r => r.Name == "CHVOL");
        (chvol.Offset, chvol.Count, chvol.Stride).Should().Be((0x80u, 32, 4u));
        chvol.Instances().Select(i => i.Offset).Should().Equal(Enumerable.Range(0, 32).Select(c => 0x80u + (uint)(4 * c)));
        sd.Registers.Single(r => r.Name == "STS").Access.Should().Be("mixed(W1C,RO)");
    }

    [Fact]
    public void Blocks_must_fit_and_must_not_overlap_registers_or_each_other()
    {
        static string Doc(string blocks) => $$"""
            { "device": "d", "prefix": "D", "specVersion": { "major": 1, "minor": 0 }, "bar": 0, "barSize": 4096,
              "registers": [ { "name": "A", "offset": 0, "width": 32, "reset": "0", "fields": [ { "name": "F", "bits": "0", "access": "RW" } ] } ],
              "blocks": [ {{blocks}} ] }
            """;
        const string regs = "\"registers\": [ { \"name\": \"R\", \"offset\": 0, \"width\": 32, \"reset\": \"0\", \"fields\": [ { \"name\": \"F\", \"bits\": \"0\", \"access\": \"RW\" } ] } ]";
        var overlapRegister = () => RegisterMapDocument.Parse(Doc($$"""{ "name": "B", "base": 0, "stride": 16, "count": 2, {{regs}} }"""), "t.json");
        overlapRegister.Should().Throw<RegisterMapException>().WithMessage("*B overlaps register A*");
        var beyond = () => RegisterMapDocument.Parse(Doc($$"""{ "name": "B", "base": 2048, "stride": 1024, "count": 3, {{regs}} }"""), "t.json");
        beyond.Should().Throw<RegisterMapException>().WithMessage("*inside barSize*");
        var twice = () => RegisterMapDocument.Parse(Doc($$"""{ "name": "B", "base": 256, "stride": 16, "count": 4, {{regs}} }, { "name": "C", "base": 288, "stride": 16, "count": 1, {{regs}} }"""), "t.json");
        twice.Should().Throw<RegisterMapException>().WithMessage("*C overlaps block B*");
        var outsideStride = () => RegisterMapDocument.Parse(Doc("""{ "name": "B", "base": 256, "stride": 16, "count": 1, "registers": [ { "name": "R", "offset": 16, "width": 32, "reset": "0", "fields": [] } ] }"""), "t.json");
        outsideStride.Should().Throw<RegisterMapException>().WithMessage("*beyond the block's stride*");
    }

    // ------------------------------------------------------------------ code generation

    private const string DemoJson = """
        {
          "device": "demo-card", "prefix": "DEMO", "specVersion": { "major": 2, "minor": 3 },
          "bar": 1, "barSize": 256,
          "registers": [
            { "name": "ID", "offset": "0x000", "width": 32, "reset": "0xD3110000", "doc": "Magic.",
              "fields": [ { "name": "VALUE", "bits": "31:0", "access": "RO" } ] },
            { "name": "CTRL", "offset": "0x010", "width": 32, "reset": "0x1", "doc": "Control <x> & ends */ here.",
              "fields": [ { "name": "EN", "bits": "0", "access": "RW" }, { "name": "MODE", "bits": "5:4", "access": "RW", "doc": "speed <n>" } ] },
            { "name": "BIG_ADDR", "offset": "0x018", "width": 64, "reset": "model", "doc": "Wide.",
              "fields": [ { "name": "LO", "bits": "31:0", "access": "RW" }, { "name": "HI", "bits": "63:32", "access": "RO" } ] }
          ],
          "enums": [ { "name": "MODE", "doc": "modes", "values": [ { "name": "OFF", "value": 0 }, { "name": "FAST_ON", "value": 2, "doc": "full speed" } ] } ]
        }
        """;

    [Fact]
    public void CHeader_emits_guard_offsets_field_masks_shifts_and_enums()
    {
        var map = RegisterMapDocument.Parse(DemoJson, "demo.json");
        var lines = RegisterMapCodegen.CHeader(map, "models/demo.json").Split('\n');

        lines.Should().Contain("#ifndef DEMO_CARD_REGS_H");
        lines.Should().Contain("#endif /* DEMO_CARD_REGS_H */");
        lines.Should().Contain(" * Generated by src/PcieEmu.Codegen from models/demo.json; do not edit.");
        lines.Should().Contain(Macro("DEMO_SPEC_MAJOR", "2"));
        lines.Should().Contain(Macro("DEMO_SPEC_MINOR", "3"));
        lines.Should().Contain(Macro("DEMO_REGS_BAR", "1"));
        lines.Should().Contain(Macro("DEMO_REGS_BAR_SIZE", "0x100"));
        lines.Should().Contain(Macro("DEMO_REG_ID", "0x000"));
        lines.Should().Contain(Macro("DEMO_REG_CTRL", "0x010"));
        lines.Should().Contain(Macro("DEMO_CTRL_EN", "0x00000001U"));
        lines.Should().Contain(Macro("DEMO_CTRL_MODE", "0x00000030U"));
        lines.Should().Contain(Macro("DEMO_CTRL_MODE_SHIFT", "4"));
        lines.Should().Contain(Macro("DEMO_BIG_ADDR_HI", "0xFFFFFFFF00000000ULL"));
        lines.Should().Contain(Macro("DEMO_BIG_ADDR_HI_SHIFT", "32"));
        lines.Should().Contain(Macro("DEMO_MODE_FAST_ON", "2"));
        lines.Should().Contain("/* CTRL (32-bit, RW, reset 0x00000001): Control <x> & ends * / here. */");
        lines.Should().Contain("/* BIG_ADDR (64-bit, mixed(RW,RO), reset model): Wide. */");
        lines.Should().NotContain(l => l.StartsWith("#define DEMO_ID_VALUE", StringComparison.Ordinal), "a whole-register field is the register");
    }

    [Fact]
    public void CSharpConstants_emit_the_offset_enum_field_classes_and_enums()
    {
        var map = RegisterMapDocument.Parse(DemoJson, "demo.json");
        var lines = RegisterMapCodegen.CSharpConstants(map, "models/demo.json", "Demo.Generated", "Demo").Split('\n');

        lines.Should().Contain("namespace Demo.Generated;");
        lines.Should().Contain("public enum DemoRegister : uint");
        lines.Should().Contain("    Id = 0x000,");
        lines.Should().Contain("    Ctrl = 0x010,");
        lines.Should().Contain("    BigAddr = 0x018,");
        lines.Should().Contain("    /// <summary>RW, 32-bit: Control &lt;x&gt; &amp; ends */ here.</summary>");
        lines.Should().Contain("public static class DemoFields");
        lines.Should().Contain("    public static class Ctrl");
        lines.Should().Contain("        public const ulong Mode = 0x00000030;");
        lines.Should().Contain("        public const int ModeShift = 4;");
        lines.Should().Contain("        public const ulong Hi = 0xFFFFFFFF00000000;");
        lines.Should().NotContain("    public static class Id", "ID has only a whole-register field");
        lines.Should().Contain("public enum DemoMode");
        lines.Should().Contain("    FastOn = 2,");
    }

    [Fact]
    public void CSharpConstants_document_every_public_member_from_the_map()
    {
        var map = RegisterMapDocument.Parse(DemoJson, "demo.json");
        var lines = RegisterMapCodegen.CSharpConstants(map, "models/demo.json", "Demo.Generated", "Demo").Split('\n');

        lines.Should().Contain("    /// <summary>Fields of CTRL (<see cref=\"DemoRegister.Ctrl\"/>).</summary>");
        lines.Should().Contain("        /// <summary>MODE, bits 5:4, RW: Speed &lt;n&gt;.</summary>", "a field's own description, as a sentence");
        lines.Should().Contain("        /// <summary>EN, bit 0, RW.</summary>", "a field without one is described by its bits and access");
        lines.Should().Contain("        /// <summary>Lowest bit of MODE: (value &amp; Mode) &gt;&gt; ModeShift is the field.</summary>");
        lines.Should().Contain("    /// <summary>Full speed.</summary>");
        lines.Should().Contain("    /// <summary>MODE value OFF.</summary>");

        // Every public line is preceded by a doc comment (CS1591 would fail the build of the card that compiles it).
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart().StartsWith("public ", StringComparison.Ordinal) || (lines[i].StartsWith("    ", StringComparison.Ordinal) && lines[i].TrimEnd().EndsWith(',') && !lines[i].TrimStart().StartsWith("//", StringComparison.Ordinal)))
            {
                lines[i - 1].TrimStart().Should().StartWith("///", $"line {i + 1} ({lines[i].Trim()}) is public");
            }
        }
    }

    private const string HandlersJson = """
        {
          "device": "demo-card", "prefix": "DEMO", "specVersion": { "major": 1, "minor": 0 },
          "bar": 0, "barSize": 4096,
          "registers": [
            { "name": "CTRL", "offset": "0x000", "width": 32, "reset": "0x0", "onWrite": "ControlWritten", "doc": "Says \"go\".",
              "fields": [ { "name": "GO", "bits": "0", "access": "WO" }, { "name": "DONE", "bits": "1", "access": "W1C" } ] },
            { "name": "COUNT", "offset": "0x008", "width": 64, "reset": "model", "onRead": "Count", "onWrite": "ControlWritten",
              "fields": [ { "name": "N", "bits": "63:0", "access": "RC" } ] }
          ],
          "blocks": [ { "name": "CH", "base": "0x100", "stride": "0x40", "count": 4, "registers": [
            { "name": "GAIN", "offset": "0x10", "count": 2, "stride": 4, "width": 32, "reset": "0x10",
              "fields": [ { "name": "LEVEL", "bits": "7:0", "access": "RW" } ] }
          ] } ]
        }
        """;

    [Fact]
    public void CSharpTable_emits_a_handler_interface_per_block_and_factories_binding_each_name()
    {
        var map = RegisterMapDocument.Parse(HandlersJson, "demo.json");
        var lines = RegisterTableCodegen.CSharpTable(map, "models/demo.json", "Demo.Generated", "Demo").Split('\n');

        lines.Should().Contain("internal interface IDemoRegisterHandlers");
        lines.Should().Contain("    void ControlWritten(in RegisterWrite write);");
        lines.Should().Contain("    ulong Count(RegisterDefinition register, ulong stored);");
        lines.Where(l => l.Contains("ControlWritten(in RegisterWrite", StringComparison.Ordinal)).Should().ContainSingle("one method per name");
        lines.Should().Contain("    /// <summary>After a write to CTRL, COUNT, the masks applied.</summary>");
        lines.Should().NotContain(l => l.Contains("IDemoChRegisterHandlers", StringComparison.Ordinal), "a block without side effects needs no interface");
        lines.Should().Contain("    public static IReadOnlyList<RegisterDefinition> CreateDefinitions(IDemoRegisterHandlers handlers, ulong countReset)");
        lines.Should().Contain("    public static IReadOnlyList<RegisterDefinition> CreateChDefinitions(int index)");
        lines.Should().Contain("        RegisterWriteHandler writeControlWritten = handlers.ControlWritten;");
        lines.Should().Contain("""        definitions.Add(new("CTRL", 0x000, Width: 4, ResetValue: 0x00000000, ImplementedMask: 0x00000003, WritableMask: 0x00000001, W1cMask: 0x00000002, ReadMask: 0x00000002, ReadClearMask: 0x00000000, OnWrite: writeControlWritten, Doc: "Says \"go\"."));""");
        lines.Should().Contain("""        definitions.Add(new("COUNT", 0x008, Width: 8, ResetValue: countReset, ImplementedMask: 0xFFFFFFFFFFFFFFFF, WritableMask: 0x0000000000000000, W1cMask: 0x0000000000000000, ReadMask: 0xFFFFFFFFFFFFFFFF, ReadClearMask: 0xFFFFFFFFFFFFFFFF, OnWrite: writeControlWritten, OnRead: readCount, Doc: ""));""");
        lines.Should().Contain("        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, 4);");
        lines.Should().Contain("        uint baseOffset = 0x0100 + ((uint)index * 0x40);");
        lines.Should().Contain("        for (int element = 0; element < 2; element++)");
        lines.Should().Contain("""            definitions.Add(new($"{prefix}GAIN{element}", baseOffset + 0x010 + ((uint)element * 0x4), Width: 4, ResetValue: 0x00000010, ImplementedMask: 0x000000FF, WritableMask: 0x000000FF, W1cMask: 0x00000000, ReadMask: 0x000000FF, ReadClearMask: 0x00000000, Doc: ""));""");
    }

    [Fact]
    public void Pascal_case_of_register_names()
    {
        RegisterMapCodegen.Pascal("DIAG_DMA_ADDR").Should().Be("DiagDmaAddr");
        RegisterMapCodegen.Pascal("ID").Should().Be("Id");
        RegisterMapCodegen.Pascal("SCRATCH64").Should().Be("Scratch64");
    }

    [Fact]
    public void Audio_header_defines_the_registers_the_driver_uses()
    {
        var header = RegisterMapCodegen.CHeader(LoadAudio(), "firmware-models/pcieemu-audio/registers.json").Split('\n');
        header.Should().Contain(Macro("PEA_REG_INTSTS", "0x024"));
        header.Should().Contain(Macro("PEA_INTSTS_DMA_ERR", "0x00000004U"));
        header.Should().Contain(Macro("PEA_DIAG_DMA_STS_ERRCODE", "0x0000FF00U"));
        header.Should().Contain(Macro("PEA_DIAG_DMA_STS_ERRCODE_SHIFT", "8"));
        header.Should().Contain(Macro("PEA_DMA_ERR_OWN_BAR", "4"));
    }

    // ------------------------------------------------------------------ helpers

    private static string Macro(string name, string value) => "#define " + name.PadRight(32) + " " + value;

    private static string Doc(string registers, string? enums = null) =>
        $$"""{"device":"t","prefix":"T","specVersion":{"major":1,"minor":0},"bar":0,"barSize":256,"registers":[{{registers}}]{{(enums is null ? "" : ",\"enums\":" + enums)}}}""";

    private sealed record ReadmeRow(uint Offset, string Name, int Width, string Access, string Reset);

    /// <summary>The rows of the register table in README §4.</summary>
    private static List<ReadmeRow> ReadmeRegisterTable()
    {
        var rows = new List<ReadmeRow>();
        bool inSection = false;
        foreach (var raw in File.ReadLines(Repository.AudioModel("README.md")))
        {
            if (raw.StartsWith("## ", StringComparison.Ordinal))
            {
                inSection = raw.StartsWith("## 4.", StringComparison.Ordinal);
                continue;
            }

            if (!inSection || !raw.StartsWith("| `0x", StringComparison.Ordinal))
            {
                continue;
            }

            var cells = raw.Split('|').Select(c => c.Trim().Trim('`')).ToArray();
            rows.Add(new ReadmeRow(
                uint.Parse(cells[1].AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture),
                cells[2],
                int.Parse(cells[3], CultureInfo.InvariantCulture),
                cells[4],
                cells[5]));
        }

        rows.Should().NotBeEmpty("README §4 has a register table");
        return rows;
    }
}
