using System.Xml.Linq;

namespace PcieEmu.Codegen.Tests;

/// <summary>
/// The committed generated files are exactly what the register maps give (the `--check` contract CI relies on), and
/// the tool writes, checks and fails the way its usage says.
/// </summary>
public sealed class GeneratedFilesTests
{
    [Fact]
    public void Regenerating_yields_the_committed_files_byte_for_byte()
    {
        var stale = new List<string>();
        int files = 0;
        foreach (var (path, content) in GeneratedFiles.Render(Repository.Root))
        {
            files++;
            string full = Path.Combine(Repository.Root, path);
            if (!File.Exists(full))
            {
                stale.Add($"{path} (missing)");
            }
            else if (!File.ReadAllBytes(full).AsSpan().SequenceEqual(System.Text.Encoding.UTF8.GetBytes(content)))
            {
                stale.Add(path);
            }
        }

        files.Should().Be(3 * GeneratedFiles.Targets.Count, "each register map yields a C header, C# constants and a C# register table");
        stale.Should().BeEmpty(
            "the committed generated files must match their register maps; after a registers.json change, build (or run " +
            "`dotnet run --project src/PcieEmu.Codegen`) and commit the regenerated files");
    }

    [Fact]
    public void Check_passes_on_the_checkout()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        int exit = CodegenTool.Run(["--check", "--root", Repository.Root], stdout, stderr);

        exit.Should().Be(CodegenTool.Ok, stderr.ToString());
        stdout.ToString().Should().BeEmpty("--check writes nothing");
    }

    [Fact]
    public void Targets_name_existing_register_maps_and_the_files_the_driver_and_the_card_use()
    {
        GeneratedFiles.Targets.Should().NotBeEmpty();
        foreach (var t in GeneratedFiles.Targets)
        {
            File.Exists(Path.Combine(Repository.Root, t.RegisterMap)).Should().BeTrue($"{t.RegisterMap} exists");
        }

        GeneratedFiles.Targets.Should().ContainSingle(t => t.RegisterMap == "firmware-models/pcieemu-audio/registers.json")
            .Which.CHeader.Should().Be("qemu/drivers/pcieemu_audio/pcieemu_audio_regs.h");
    }

    [Fact]
    public void The_Devices_build_watches_exactly_the_maps_and_outputs_the_tool_has()
    {
        // PcieEmu.Devices.csproj runs the tool when these change (Inputs) and compiles the C# it writes.
        const string project = "src/PcieEmu.Devices/PcieEmu.Devices.csproj";
        var xml = XDocument.Load(Path.Combine(Repository.Root, project));
        string Resolve(string include) => include.Contains("$(RegisterCodegenRoot)/", StringComparison.Ordinal)
            ? include.Replace("$(RegisterCodegenRoot)/", "", StringComparison.Ordinal)
            : "src/PcieEmu.Devices/" + include;
        List<string> Items(string name) => [.. xml.Descendants(name)
            .SelectMany(e => e.Attribute("Include")!.Value.Split(';'))
            .Where(i => !i.StartsWith("@(", StringComparison.Ordinal))
            .Select(Resolve)];

        Items("RegisterMap").Should().BeEquivalentTo(GeneratedFiles.Targets.Select(t => t.RegisterMap));
        Items("RegisterCodegenCSharp").Should().BeEquivalentTo(GeneratedFiles.Targets.SelectMany(t => new[] { t.CSharp, t.CSharpTable }));
        Items("RegisterCodegenOutput").Should().BeEquivalentTo(GeneratedFiles.Targets.Select(t => t.CHeader),
            "with the C# files (@(RegisterCodegenCSharp)), every file the tool writes is an input of the build step");
    }

    [Fact]
    public void The_tool_writes_missing_files_then_leaves_current_ones_alone()
    {
        using var checkout = new ScratchCheckout();

        var first = checkout.Run();
        first.Exit.Should().Be(CodegenTool.Ok, first.Stderr);
        foreach (var (path, content) in GeneratedFiles.Render(Repository.Root))
        {
            first.Stdout.Should().Contain($"codegen: wrote {path}");
            File.ReadAllText(checkout.PathOf(path)).Should().Be(content);
        }

        var header = checkout.PathOf(GeneratedFiles.Targets[0].CHeader);
        var written = File.GetLastWriteTimeUtc(header);
        File.SetLastWriteTimeUtc(header, written.AddHours(-1));
        var second = checkout.Run();
        second.Exit.Should().Be(CodegenTool.Ok, second.Stderr);
        second.Stdout.Should().BeEmpty("every file is current");
        File.GetLastWriteTimeUtc(header).Should().Be(written.AddHours(-1), "a current file is not rewritten");
        Directory.GetFiles(Path.GetDirectoryName(header)!, "*.tmp").Should().BeEmpty();
    }

    [Fact]
    public void Check_names_stale_and_missing_files_and_changes_nothing()
    {
        using var checkout = new ScratchCheckout();
        checkout.Run().Exit.Should().Be(CodegenTool.Ok);
        var target = GeneratedFiles.Targets[0];
        File.AppendAllText(checkout.PathOf(target.CSharpTable), "// edited by hand\n");
        File.Delete(checkout.PathOf(target.CHeader));

        var check = checkout.Run("--check");

        check.Exit.Should().Be(CodegenTool.Stale);
        check.Stdout.Should().BeEmpty();
        check.Stderr.Should().Contain($"codegen: stale: {target.CSharpTable}").And.Contain($"codegen: stale: {target.CHeader}")
            .And.NotContain(target.CSharp + "\n");
        File.Exists(checkout.PathOf(target.CHeader)).Should().BeFalse("--check writes nothing");
        File.ReadAllText(checkout.PathOf(target.CSharpTable)).Should().EndWith("// edited by hand\n");

        checkout.Run().Exit.Should().Be(CodegenTool.Ok);
        checkout.Run("--check").Exit.Should().Be(CodegenTool.Ok, "a run without --check regenerates");
    }

    [Fact]
    public void An_invalid_register_map_fails_with_its_path_and_the_problem_and_writes_nothing()
    {
        using var checkout = new ScratchCheckout();
        var target = GeneratedFiles.Targets[0];
        string map = checkout.PathOf(target.RegisterMap);
        File.WriteAllText(map, File.ReadAllText(map).Replace("\"onWrite\": \"GlobalControl\"", "\"onWrite\": \"Global-Control\"", StringComparison.Ordinal));

        var run = checkout.Run();

        run.Exit.Should().Be(CodegenTool.Failed);
        run.Stderr.Should().Contain(map).And.Contain("onWrite: 'Global-Control' is not a C identifier");
        File.Exists(checkout.PathOf(target.CHeader)).Should().BeFalse();
    }

    [Theory]
    [InlineData("--frobnicate")]
    [InlineData("--root")]
    public void Bad_arguments_fail_with_the_usage(string argument)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        int exit = CodegenTool.Run([argument], stdout, stderr);

        exit.Should().Be(CodegenTool.Failed);
        stderr.ToString().Should().Contain($"unexpected argument '{argument}'").And.Contain("usage: dotnet run --project src/PcieEmu.Codegen");
    }

    [Fact]
    public void A_root_without_PcieEmu_sln_is_refused()
    {
        string empty = Directory.CreateTempSubdirectory("pcieemu-codegen-").FullName;
        try
        {
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();

            int exit = CodegenTool.Run(["--root", empty], stdout, stderr);

            exit.Should().Be(CodegenTool.Failed);
            stderr.ToString().Should().Contain($"no PcieEmu.sln in {empty}");
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }
}
