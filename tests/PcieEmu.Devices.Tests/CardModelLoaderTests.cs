using System.Text;
using System.Text.Json.Nodes;
using PcieEmu.Devices.Models;

namespace PcieEmu.Devices.Tests;

/// <summary>
/// The model loader (spec §1; schema firmware-models/schema/card-model.schema.json): default.json loads with the
/// values it states, and every class of bad file fails with a <see cref="CardModelException"/> that names the file
/// and the JSON path of the problem.
/// </summary>
public sealed class CardModelLoaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Default_model_loads_with_the_values_the_file_states()
    {
        var m = CardModelLoader.Load(Repo.DefaultModelPath).Should().BeOfType<AudioCardModel>("the file configures a pcieemu-audio card").Subject;

        m.SourcePath.Should().Be(Path.GetFullPath(Repo.DefaultModelPath));
        m.Card.Should().Be("pcieemu-audio");
        m.Name.Should().Be("PcieEmu Audio");
        m.Identity.Should().Be(new CardIdentity(0x1234, 0xAD10, 0x1234, 0x0010, 0x040100, 0x01, 0x5045415500000001));
        m.RegistersBar.Should().Be(new BarLayout(0, 16384, Is64Bit: true, Prefetchable: false, Mmap: false));
        m.MsixBar.Should().Be(new BarLayout(2, 4096, Is64Bit: false, Prefetchable: false, Mmap: false));
        m.SramBar.Should().Be(new BarLayout(4, 4096, Is64Bit: true, Prefetchable: true, Mmap: true));
        m.ExpansionRom.Should().BeNull();
        m.MsixVectors.Should().Be(4);
        m.MsiVectors.Should().Be(4);
        m.Dma.AddressBits.Should().Be(40);
        m.Dma.Alignment.Should().Be(128u);
        m.Dma.AlignmentLog2.Should().Be(7);
        m.Dma.MaxSegmentBytes.Should().Be(65536u);
        m.Dma.AddressLimit.Should().Be((1UL << 40) - 1);
        m.NoSoftReset.Should().BeTrue();
        m.Streams.Select(s => (s.Name, s.Direction, s.MaxChannels)).Should().Equal(
            ("playback0", StreamDirection.Playback, 2),
            ("capture0", StreamDirection.Capture, 2));
        foreach (var s in m.Streams)
        {
            s.Formats.Should().Equal("S16_LE", "S24_LE", "S32_LE", "FLOAT_LE");
            s.Rates.Should().Equal(44100, 48000, 96000, 192000);
        }

        m.PlaybackStreams.Should().Be(1);
        m.CaptureStreams.Should().Be(1);
    }

    [Fact]
    public void Optional_parts_take_their_documented_defaults()
    {
        var json = Repo.DefaultModelJson();
        json.Remove("power");
        json["interrupts"]!.AsObject().Remove("msiVectors");
        json["identity"]!.AsObject().Remove("serialNumber");
        json["bars"]!.AsObject().Remove("sram");
        json["bars"]!["msix"]!.AsObject().Remove("addressing");

        var m = CardModelLoader.Load(_dir.Write("minimal.json", json));

        m.NoSoftReset.Should().BeTrue("power.noSoftReset defaults to true (spec §2: No_Soft_Reset = 1)");
        m.MsiVectors.Should().Be(0, "the schema says msiVectors omitted ⇒ no MSI capability");
        m.Identity.SerialNumber.Should().BeNull();
        m.SramBar.Should().BeNull();
        m.MsixBar.Is64Bit.Should().BeFalse();
    }

    [Fact]
    public void Integer_and_hex_forms_of_an_id_are_equivalent()
    {
        var json = Repo.DefaultModelJson();
        json["identity"]!["vendorId"] = 0x1234;
        json["identity"]!["classCode"] = "0x40100";
        json["identity"]!["revision"] = 255;
        json["identity"]!["serialNumber"] = "0xFFFFFFFFFFFFFFFF";

        var m = CardModelLoader.Load(_dir.Write("ids.json", json));

        m.Identity.VendorId.Should().Be(0x1234);
        m.Identity.ClassCode.Should().Be(0x040100u);
        m.Identity.Revision.Should().Be(0xFF);
        m.Identity.SerialNumber.Should().Be(ulong.MaxValue);
    }

    [Fact]
    public void A_model_can_carry_an_expansion_rom_relative_to_the_model_file()
    {
        byte[] rom = [0x55, 0xAA, 0x01, 0x02, 0x03];
        Directory.CreateDirectory(Path.Combine(_dir.Path, "roms"));
        File.WriteAllBytes(Path.Combine(_dir.Path, "roms", "option.rom"), rom);
        var json = Repo.DefaultModelJson();
        json["expansionRom"] = new JsonObject { ["file"] = "roms/option.rom" };

        var m = CardModelLoader.Load(_dir.Write("with-rom.json", json));

        m.ExpansionRom.Should().Equal(rom);
    }

    [Fact]
    public void Invalid_json_names_the_file_and_the_line()
    {
        string text = "{\n  \"formatVersion\": 1,\n  \"card\": \"pcieemu-audio\",\n  \"name\": \"x\" \"oops\"\n}\n";
        string path = _dir.Write("broken.json", text);

        var e = Assert.Throws<CardModelException>(() => CardModelLoader.Load(path));

        e.Message.Should().Contain(path).And.Contain("not valid JSON").And.Contain("line 4");
    }

    [Fact]
    public void A_missing_file_is_a_model_error_naming_the_file()
    {
        string path = Path.Combine(_dir.Path, "does-not-exist.json");

        var e = Assert.Throws<CardModelException>(() => CardModelLoader.Load(path));

        e.Message.Should().Contain(path);
    }

    public static TheoryData<string, string, string> BadModels()
    {
        // (case, mutation, JSON path the message must name). Mutations are applied to default.json.
        return new TheoryData<string, string, string>
        {
            { "missing required top-level property", "remove $.dma", "$: missing required property \"dma\"" },
            { "missing required nested property", "remove $.identity.deviceId", "$.identity: missing required property \"deviceId\"" },
            { "unknown top-level property", "set $.colour \"red\"", "$: unknown property \"colour\"" },
            { "unknown nested property", "set $.bars.msix.offset 0", "$.bars.msix: unknown property \"offset\"" },
            { "wrong type: string for integer", "set $.dma.addressBits \"40\"", "$.dma.addressBits" },
            { "wrong type: number for string", "set $.name 7", "$.name" },
            { "wrong type: object for array", "set $.streams {}", "$.streams" },
            { "fractional integer", "set $.interrupts.msixVectors 2.5", "$.interrupts.msixVectors" },
            { "formatVersion const", "set $.formatVersion 2", "$.formatVersion" },
            { "card enum", "set $.card \"pcieemu-video\"", "$.card" },
            { "16-bit ID given 5 hex digits", "set $.identity.vendorId \"0x12345\"", "$.identity.vendorId" },
            { "16-bit device ID given 5 hex digits", "set $.identity.deviceId \"0x1AD10\"", "$.identity.deviceId" },
            { "16-bit subsystem given an integer too large", "set $.identity.subsystemId 65536", "$.identity.subsystemId" },
            { "8-bit revision too wide (hex)", "set $.identity.revision \"0x100\"", "$.identity.revision" },
            { "8-bit revision too wide (integer)", "set $.identity.revision 256", "$.identity.revision" },
            { "24-bit class code too wide", "set $.identity.classCode \"0x1040100\"", "$.identity.classCode" },
            { "hex without digits", "set $.identity.vendorId \"0x\"", "$.identity.vendorId" },
            { "hex with a bad digit", "set $.identity.vendorId \"0x12G4\"", "$.identity.vendorId" },
            { "negative ID", "set $.identity.subsystemVendorId -1", "$.identity.subsystemVendorId" },
            { "vendor ID 0xFFFF is not a vendor", "set $.identity.vendorId \"0xFFFF\"", "$.identity.vendorId" },
            { "serial number wider than 64 bits", "set $.identity.serialNumber \"0x10000000000000000\"", "$.identity.serialNumber" },
            { "BAR size not a power of two", "set $.bars.registers.size 20000", "$.bars.registers.size" },
            { "MSI-X BAR size not a power of two", "set $.bars.msix.size 12288", "$.bars.msix.size" },
            { "register BAR below the register map", "set $.bars.registers.size 8192", "$.bars.registers.size" },
            { "BAR index out of range", "set $.bars.msix.index 6", "$.bars.msix.index" },
            { "two BARs on one slot", "set $.bars.msix.index 0", "$.bars.msix" },
            { "BAR on a 64-bit BAR's upper slot", "set $.bars.msix.index 1", "$.bars.msix" },
            { "64-bit BAR whose upper slot is taken", "set $.bars.sram.index 1", "$.bars.sram" },
            { "64-bit BAR at index 5", "set $.bars.sram.index 5", "$.bars.sram.index" },
            { "mmap on the register BAR", "set $.bars.registers.mmap true", "$.bars" },
            { "addressing neither 32 nor 64", "set $.bars.msix.addressing 16", "$.bars.msix.addressing" },
            { "MSI-X table beyond half the MSI-X BAR", "set $.interrupts.msixVectors 129", "$.interrupts.msixVectors" },
            { "MSI-X vectors out of range", "set $.interrupts.msixVectors 0", "$.interrupts.msixVectors" },
            { "MSI vectors not a power of two", "set $.interrupts.msiVectors 3", "$.interrupts.msiVectors" },
            { "alignment not a power of two", "set $.dma.alignment 96", "$.dma.alignment" },
            { "maxSegmentBytes not a multiple of alignment", "set $.dma.maxSegmentBytes 65600", "$.dma.maxSegmentBytes" },
            { "address bits below 32", "set $.dma.addressBits 31", "$.dma.addressBits" },
            { "no streams", "set $.streams []", "$.streams" },
            { "duplicate stream names", "set $.streams[1].name \"playback0\"", "$.streams[1].name" },
            { "stream name pattern", "set $.streams[0].name \"Playback 0\"", "$.streams[0].name" },
            { "stream direction enum", "set $.streams[0].direction \"both\"", "$.streams[0].direction" },
            { "bad stream format", "set $.streams[0].formats[1] \"S20_LE\"", "$.streams[0].formats[1]" },
            { "duplicate stream format", "set $.streams[0].formats[1] \"S16_LE\"", "$.streams[0].formats" },
            { "bad stream rate", "set $.streams[1].rates[0] 22050", "$.streams[1].rates[0]" },
            { "rate as a string", "set $.streams[1].rates[2] \"96000\"", "$.streams[1].rates[2]" },
            { "expansion ROM file missing", "set $.expansionRom {\"file\":\"missing.rom\"}", "$.expansionRom.file" },
            { "expansion ROM is a directory", "set $.expansionRom {\"file\":\".\"}", "$.expansionRom.file" },
            { "expansion ROM without a file", "set $.expansionRom {}", "$.expansionRom" },
            { "name too long", "set $.name \"" + new string('n', 81) + "\"", "$.name" },
        };
    }

    [Theory]
    [MemberData(nameof(BadModels))]
    public void Every_class_of_bad_model_names_the_file_and_the_json_path(string what, string mutation, string jsonPath)
    {
        var json = Repo.DefaultModelJson();
        Mutate(json, mutation);
        string path = _dir.Write("bad-model.json", json);

        var e = Assert.Throws<CardModelException>(() => CardModelLoader.Load(path));

        e.Message.Should().Contain(path, $"the message must name the file ({what})")
            .And.Contain(jsonPath, $"the message must name the JSON path ({what})");
    }

    [Fact]
    public void Several_problems_are_all_reported_at_once()
    {
        var json = Repo.DefaultModelJson();
        json["dma"]!["alignment"] = 96;
        json["bars"]!["sram"]!["index"] = 5;

        var e = Assert.Throws<CardModelException>(() => CardModelLoader.Load(_dir.Write("two.json", json)));

        e.Message.Should().Contain("$.dma.alignment").And.Contain("$.bars.sram.index");
    }

    [Fact]
    public void Numbers_written_in_other_json_forms_are_read_by_value_not_by_spelling()
    {
        // JSON does not distinguish 4, 4.0 and 4e0; the enum-typed fields (msiVectors, addressing, rates)
        // and the integer ones must load or fail cleanly, never crash with a parser exception.
        string text = File.ReadAllText(Repo.DefaultModelPath)
            .Replace("\"msiVectors\": 4", "\"msiVectors\": 4.0", StringComparison.Ordinal)
            .Replace("\"addressing\": 32", "\"addressing\": 3.2e1", StringComparison.Ordinal)
            .Replace("\"maxSegmentBytes\": 65536", "\"maxSegmentBytes\": 65536.0", StringComparison.Ordinal)
            .Replace("\"rates\": [44100, 48000", "\"rates\": [44100.0, 48000", StringComparison.Ordinal);

        var m = CardModelLoader.ParseAudio(text, Path.Combine(_dir.Path, "spelled.json"));

        m.MsiVectors.Should().Be(4);
        m.MsixBar.Is64Bit.Should().BeFalse();
        m.Dma.MaxSegmentBytes.Should().Be(65536u);
        m.Streams[0].Rates.Should().Equal(44100, 48000, 96000, 192000);
    }

    public static TheoryData<string, string> OddValues() => new()
    {
        { "\"msiVectors\": 4", "\"msiVectors\": -0" },
        { "\"msiVectors\": 4", "\"msiVectors\": 1e400" },
        { "\"formatVersion\": 1", "\"formatVersion\": 1e400" },
        { "\"formatVersion\": 1", "\"formatVersion\": 1.0000000000000000000000000001" },
        { "\"addressBits\": 40", "\"addressBits\": 1e400" },
        { "\"addressBits\": 40", "\"addressBits\": 40.5" },
        { "\"maxChannels\": 2", "\"maxChannels\": 2.0e0" },
        { "\"serialNumber\": \"0x5045415500000001\"", "\"serialNumber\": 18446744073709551616" },
        { "\"serialNumber\": \"0x5045415500000001\"", "\"serialNumber\": 1e30" },
        { "\"serialNumber\": \"0x5045415500000001\"", "\"serialNumber\": -0" },
        { "\"vendorId\": \"0x1234\"", "\"vendorId\": -0" },
        { "\"vendorId\": \"0x1234\"", "\"vendorId\": 4660.0" },
        { "\"rates\": [44100", "\"rates\": [44100, 44100.0" },
        { "\"card\": \"pcieemu-audio\"", "\"card\": \"pcieemu\\u002daudio\"" },
        { "\"name\": \"PcieEmu Audio\"", "\"name\": null" },
        { "\"power\": { \"noSoftReset\": true }", "\"power\": { \"noSoftReset\": \"yes\" }" },
        { "\"interrupts\": {", "\"interrupts\": [], \"x\": {" },
    };

    [Theory]
    [MemberData(nameof(OddValues))]
    public void Odd_but_well_formed_values_load_or_fail_with_a_model_error(string from, string to)
    {
        string original = File.ReadAllText(Repo.DefaultModelPath);
        original.Should().Contain(from, "the test edits this text of default.json");
        string text = original.Replace(from, to, StringComparison.Ordinal);

        var act = () => CardModelLoader.Parse(text, Path.Combine(_dir.Path, "odd.json"));

        try
        {
            act();
        }
        catch (CardModelException)
        {
        }
        catch (Exception e)
        {
            Assert.Fail($"{to}: {e.GetType().Name} escaped the loader: {e.Message}");
        }
    }

    [Fact]
    public void An_expansion_rom_path_with_a_nul_is_a_model_error()
    {
        var json = Repo.DefaultModelJson();
        json["expansionRom"] = new JsonObject { ["file"] = "rom\u0000.bin" };
        string path = _dir.Write("nul-rom.json", json);

        var e = Assert.Throws<CardModelException>(() => CardModelLoader.Load(path));

        e.Message.Should().Contain("$.expansionRom.file");
    }

    [Fact]
    public void Truncated_files_fail_only_with_model_errors()
    {
        string text = File.ReadAllText(Repo.DefaultModelPath);
        string path = Path.Combine(_dir.Path, "truncated.json");
        for (int n = 0; n < text.Length - 1; n++)
        {
            string prefix = text[..n];
            ShouldFailCleanly(() => CardModelLoader.Parse(prefix, path), $"the first {n} characters");
        }
    }

    [Fact]
    public void Corrupted_files_never_crash_the_loader()
    {
        byte[] original = File.ReadAllBytes(Repo.DefaultModelPath);
        string path = Path.Combine(_dir.Path, "corrupt.json");
        var random = new Random(20240611);
        byte[] interesting = "{}[]\",:0123456789-+.eExabcfnrtu\\ \n\0\u007f\u00ff"u8.ToArray();
        for (int round = 0; round < 3000; round++)
        {
            byte[] bytes = (byte[])original.Clone();
            int edits = 1 + random.Next(3);
            var where = new List<int>();
            for (int i = 0; i < edits; i++)
            {
                int at = random.Next(bytes.Length);
                where.Add(at);
                bytes[at] = random.Next(4) == 0 ? (byte)random.Next(256) : interesting[random.Next(interesting.Length)];
            }

            string text = Encoding.UTF8.GetString(bytes);
            try
            {
                CardModelLoader.Parse(text, path);
            }
            catch (CardModelException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"round {round}, edits at {string.Join(",", where)}: {e.GetType().Name}: {e.Message}\n{text}");
            }
        }
    }

    [Fact]
    public void Deeply_nested_garbage_is_a_model_error()
    {
        string text = new string('[', 10_000) + new string(']', 10_000);

        var e = Assert.Throws<CardModelException>(() => CardModelLoader.Parse(text, "/models/deep.json"));

        e.Message.Should().Contain("/models/deep.json");
    }

    private static void ShouldFailCleanly(Action parse, string what)
    {
        try
        {
            parse();
        }
        catch (CardModelException)
        {
            return;
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().Name} escaped the loader: {e.Message}");
        }

        Assert.Fail($"{what}: a truncated model loaded");
    }

    /// <summary>Applies "remove PATH" or "set PATH JSON" to a model tree (PATH like $.a.b[1].c).</summary>
    internal static void Mutate(JsonObject root, string mutation)
    {
        string[] parts = mutation.Split(' ', 3);
        var steps = ParsePath(parts[1]);
        JsonNode parent = root;
        foreach (var step in steps[..^1])
        {
            parent = step is int i ? parent[i]! : parent[(string)step]!;
        }

        object last = steps[^1];
        if (parts[0] == "remove")
        {
            parent.AsObject().Remove((string)last).Should().BeTrue($"{parts[1]} exists in default.json");
            return;
        }

        var value = JsonNode.Parse(parts[2]);
        if (last is int index)
        {
            parent[index] = value;
        }
        else
        {
            parent[(string)last] = value;
        }
    }

    private static List<object> ParsePath(string path)
    {
        var steps = new List<object>();
        foreach (var segment in path[2..].Split('.'))
        {
            int bracket = segment.IndexOf('[', StringComparison.Ordinal);
            if (bracket < 0)
            {
                steps.Add(segment);
                continue;
            }

            steps.Add(segment[..bracket]);
            steps.Add(int.Parse(segment[(bracket + 1)..^1], System.Globalization.CultureInfo.InvariantCulture));
        }

        return steps;
    }
}
