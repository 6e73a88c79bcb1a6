using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.Tests;

/// <summary>
/// The schema and the loader agree with the code on every limit: every value they accept at a boundary builds a
/// card, and the first value past it is refused (by the loader, i.e. by `pcieemu validate`) with one line naming the
/// JSON path and the limit. A registers BAR of 32 MiB used to pass validate and then kill serve in RegisterBank.
/// </summary>
public sealed class ModelLimitsTests : IDisposable
{
    private const string GiB = "1073741824";
    private const string TwoGiB = "2147483648";

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string> AcceptedBoundaries() => new()
    {
        // (case, mutations of default.json separated by ';')
        { "registers BAR at its minimum (the register map)", "set $.bars.registers.size 16384" },
        { "registers BAR at its maximum (a register bank's)", "set $.bars.registers.size 16777216" },
        { "registers BAR at its maximum, 32-bit", "set $.bars.registers.size 16777216; set $.bars.registers.addressing 32" },
        { "MSI-X BAR at its minimum, table filling the first half", "set $.bars.msix.size 4096; set $.interrupts.msixVectors 128" },
        { "MSI-X BAR at its maximum", $"set $.bars.msix.size {GiB}" },
        { "MSI-X BAR in the last slot", "set $.bars.sram.index 2; set $.bars.msix.index 5" },
        { "SRAM BAR at its minimum (one page)", "set $.bars.sram.size 4096" },
        { "SRAM BAR at its maximum", $"set $.bars.sram.size {GiB}" },
        { "SRAM BAR 64-bit in slots 4+5", "set $.bars.sram.index 4; set $.bars.sram.addressing 64" },
        { "most MSI-X vectors", "set $.interrupts.msixVectors 255; set $.bars.msix.size 8192" },
        { "fewest MSI-X vectors", "set $.interrupts.msixVectors 1" },
        { "most MSI vectors", "set $.interrupts.msiVectors 32" },
        { "no MSI", "set $.interrupts.msiVectors 0" },
        { "fewest DMA address bits", "set $.dma.addressBits 32" },
        { "most DMA address bits", "set $.dma.addressBits 64" },
        { "largest DMA alignment", "set $.dma.alignment 65536; set $.dma.maxSegmentBytes 65536" },
        { "smallest DMA alignment", "set $.dma.alignment 1" },
        { "largest DMA segment", "set $.dma.maxSegmentBytes 16777216" },
        { "smallest DMA segment", "set $.dma.alignment 64; set $.dma.maxSegmentBytes 64" },
        { "smallest DMA boundary", "set $.dma.boundaryBits 12" },
        { "largest DMA boundary (none)", "set $.dma.boundaryBits 64" },
        { "most channels", "set $.streams[0].maxChannels 32" },
        { "most streams", "set $.streams " + Streams(16) },
        { "longest name", "set $.name \"" + new string('n', 80) + "\"" },
        { "largest serial number", "set $.identity.serialNumber \"0xFFFFFFFFFFFFFFFF\"" },
        { "last vendor ID", "set $.identity.vendorId \"0xFFFE\"" },
    };

    [Theory]
    [MemberData(nameof(AcceptedBoundaries))]
    public void Every_boundary_value_the_loader_accepts_builds_a_card(string what, string mutations)
    {
        var model = CardModelLoader.Load(Write(mutations));

        using var card = CardFactory.Create(model, NullLoggerFactory.Instance);

        card.Function.Bars[model.RegistersBar.Index]!.Size.Should().Be(model.RegistersBar.Size, what);
        card.Function.Bars[model.MsixBar.Index]!.Size.Should().Be(model.MsixBar.Size, what);
        if (model.SramBar is { } sram)
        {
            card.Function.Bars[sram.Index]!.Memory!.Size.Should().Be(sram.Size, what);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16 << 20)]
    public void An_expansion_rom_of_1_byte_to_16_MiB_builds_a_card(int bytes)
    {
        string rom = Path.Combine(_dir.Path, "option.rom");
        using (var f = File.Create(rom))
        {
            f.SetLength(bytes);
        }

        var model = CardModelLoader.Load(Write($"set $.expansionRom {{\"file\":\"{rom}\"}}"));

        using var card = CardFactory.Create(model, NullLoggerFactory.Instance);
        model.ExpansionRom!.Length.Should().Be(bytes);
    }

    public static TheoryData<string, string, string> FirstValuesPast() => new()
    {
        // (case, mutations, the one problem the message states)
        { "registers BAR below the register map", "set $.bars.registers.size 8192", "$.bars.registers.size: 8192 is below the minimum 16384" },
        { "registers BAR above a register bank", "set $.bars.registers.size 33554432", "$.bars.registers.size: 33554432 is above the maximum 16777216" },
        { "registers BAR of 1 GiB", $"set $.bars.registers.size {GiB}", $"$.bars.registers.size: {GiB} is above the maximum 16777216" },
        { "MSI-X BAR below its minimum", "set $.bars.msix.size 2048", "$.bars.msix.size: 2048 is below the minimum 4096" },
        { "MSI-X BAR above its maximum", $"set $.bars.msix.size {TwoGiB}", $"$.bars.msix.size: {TwoGiB} is above the maximum {GiB}" },
        { "MSI-X BAR prefetchable (the card never makes it so)", "set $.bars.msix.prefetchable true", "$.bars.msix.prefetchable: must be false" },
        { "SRAM BAR below a page", "set $.bars.sram.size 2048", "$.bars.sram.size: 2048 is below the minimum 4096" },
        { "SRAM BAR above its maximum", $"set $.bars.sram.size {TwoGiB}", $"$.bars.sram.size: {TwoGiB} is above the maximum {GiB}" },
        { "64-bit BAR in the last slot", "set $.bars.sram.index 5", "$.bars.sram.index: a 64-bit BAR needs two slots; 5 is the last" },
        { "MSI-X vectors past CAPS.NVEC", "set $.interrupts.msixVectors 256; set $.bars.msix.size 8192", "$.interrupts.msixVectors: 256 is above the maximum 255" },
        { "MSI-X table past half the BAR", "set $.bars.msix.size 4096; set $.interrupts.msixVectors 129", "$.interrupts.msixVectors: 129 table entries do not fit in the first half of the 4096-byte MSI-X BAR (the PBA is at the half)" },
        { "MSI vectors past 32", "set $.interrupts.msiVectors 64", "$.interrupts.msiVectors: 64 is not one of 0, 1, 2, 4, 8, 16, 32" },
        { "DMA address bits below 32", "set $.dma.addressBits 31", "$.dma.addressBits: 31 is below the minimum 32" },
        { "DMA address bits above 64", "set $.dma.addressBits 65", "$.dma.addressBits: 65 is above the maximum 64" },
        { "DMA alignment above 64 KiB", "set $.dma.alignment 131072; set $.dma.maxSegmentBytes 131072", "$.dma.alignment: 131072 is above the maximum 65536" },
        { "DMA segment above 16 MiB", "set $.dma.maxSegmentBytes 16777344", "$.dma.maxSegmentBytes: 16777344 is above the maximum 16777216" },
        { "DMA segment below 64", "set $.dma.alignment 32; set $.dma.maxSegmentBytes 32", "$.dma.maxSegmentBytes: 32 is below the minimum 64" },
        { "DMA boundary below a page", "set $.dma.boundaryBits 11", "$.dma.boundaryBits: 11 is below the minimum 12" },
        { "DMA boundary above 64 bits", "set $.dma.boundaryBits 65", "$.dma.boundaryBits: 65 is above the maximum 64" },
        { "channels past the per-channel volumes", "set $.streams[0].maxChannels 33", "$.streams[0].maxChannels: 33 is above the maximum 32" },
        { "streams past the register map", "set $.streams " + Streams(17), "$.streams: allows at most 16 item(s), has 17" },
        { "name past 80 characters", "set $.name \"" + new string('n', 81) + "\"", "$.name: longer than 80 characters" },
    };

    [Theory]
    [MemberData(nameof(FirstValuesPast))]
    public void The_first_value_past_each_limit_is_refused_in_one_line_naming_it(string what, string mutations, string problem)
    {
        string path = Write(mutations);

        var e = Assert.Throws<CardModelException>(() => CardModelLoader.Load(path));

        e.Message.Should().EndWith(": " + problem, what);
        e.Message.Should().StartWith(path).And.NotContain("\n", $"one problem is one line ({what})");
    }

    [Fact]
    public void The_schema_states_the_limits_the_code_enforces()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Repo.SchemaPath));
        var root = doc.RootElement;
        var props = root.GetProperty("properties");
        var registersSize = props.GetProperty("bars").GetProperty("properties").GetProperty("registers").GetProperty("properties").GetProperty("size");

        registersSize.GetProperty("maximum").GetUInt64().Should().Be(RegisterBank.MaxSize);
        registersSize.GetProperty("minimum").GetUInt64().Should().Be(CardModelLoader.MinRegistersBarSize);
        root.GetProperty("$defs").GetProperty("bar").GetProperty("properties").GetProperty("size").GetProperty("maximum").GetUInt64()
            .Should().BeLessThanOrEqualTo(1UL << 30, "SharedMemory.Clear addresses a BAR with an int");
        props.GetProperty("streams").GetProperty("maxItems").GetInt32().Should().Be(AudioSdBlock.Count);
        var stream = props.GetProperty("streams").GetProperty("items").GetProperty("properties");
        stream.GetProperty("maxChannels").GetProperty("maximum").GetInt32().Should().Be(AudioSdBlock.ChvolCount)
            .And.BeLessThanOrEqualTo((int)(AudioSdFields.Caps.Maxch >> AudioSdFields.Caps.MaxchShift));
        props.GetProperty("interrupts").GetProperty("properties").GetProperty("msixVectors").GetProperty("maximum").GetInt32()
            .Should().Be((int)(AudioFields.Caps.Nvec >> AudioFields.Caps.NvecShift));
        root.GetProperty("description").GetString().Should().Contain($"at most {CardModelLoader.MaxModelFileBytes >> 20} MiB");
        props.GetProperty("expansionRom").GetProperty("properties").GetProperty("file").GetProperty("description").GetString()
            .Should().Contain($"1 byte .. {ExpansionRom.MaxImageBytes >> 20} MiB");
    }

    /// <summary>A JSON array of <paramref name="n"/> streams, half playback, half capture.</summary>
    private static string Streams(int n) => new JsonArray([.. Enumerable.Range(0, n).Select(i => (JsonNode)new JsonObject
    {
        ["name"] = $"s{i}",
        ["direction"] = i % 2 == 0 ? "playback" : "capture",
        ["maxChannels"] = 2,
        ["formats"] = new JsonArray("S16_LE"),
        ["rates"] = new JsonArray(48000),
    })]).ToJsonString();

    private string Write(string mutations)
    {
        var json = Repo.DefaultModelJson();
        foreach (var m in mutations.Split(';', StringSplitOptions.TrimEntries))
        {
            CardModelLoaderTests.Mutate(json, m);
        }

        return _dir.Write($"model-{Guid.NewGuid():N}.json", json);
    }
}
