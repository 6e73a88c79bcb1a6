using System.Diagnostics;
using System.IO.Compression;
using Xunit.Abstractions;

namespace PcieEmu.Packaging.Tests;

/// <summary>
/// What a user installs: the solution's packages packed into a temporary local feed, the pcieemu tool installed
/// from it with <c>dotnet tool install --tool-path</c>, and its verbs run from an empty directory outside the
/// checkout, without $PCIEEMU_REPO. Fails loudly (never skips) when packing, installing or running fails.
/// The steps are in the order a user takes them; the feed is packed once per run (<see cref="PackedFeed"/>).
/// </summary>
[Collection(PackagesCollection.Name)]
public sealed class ToolPackageTests(PackedFeed packed, ITestOutputHelper output) : IDisposable
{
    private static readonly string[] LibraryPackages =
    [
        "PcieEmu.Interop", "PcieEmu.Pci", "PcieEmu.VfioUser", "PcieEmu.VfioUser.Client",
        "PcieEmu.Devices", "PcieEmu.Tracing", "PcieEmu.Harness", "PcieEmu.Hosting",
    ];

    private readonly string _root = Directory.CreateTempSubdirectory("pcieemu-pack-").FullName;

    [Fact]
    public async Task Packed_tool_installs_into_a_tool_path_and_runs_help_validate_and_demo_from_an_empty_directory()
    {
        string feed = packed.Feed;
        string version = packed.Version;
        string tools = Path.Combine(_root, "tools");
        string empty = Directory.CreateDirectory(Path.Combine(_root, "empty")).FullName;

        // 1. The solution's packable projects, packed from what the test run already built.
        packed.Packed(output);

        var packages = Directory.GetFiles(feed, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        packages.Should().BeEquivalentTo(
            [.. LibraryPackages.Select(p => $"{p}.{version}.nupkg"), $"pcieemu.{version}.nupkg"],
            "the bindings, the client, the PCI framework, the cards, tracing, the harness, hosting and the tool; no test, benchmark, example or codegen package");
        foreach (string file in Directory.GetFiles(feed, "*.nupkg"))
        {
            output.WriteLine($"{Path.GetFileName(file)}: {new FileInfo(file).Length / 1024.0:F1} KiB");
        }

        foreach (string id in LibraryPackages)
        {
            var entries = Entries(Path.Combine(feed, $"{id}.{version}.nupkg"));
            entries.Should().Contain("README.md", $"{id} has a package README");
            entries.Should().Contain($"lib/net10.0/{id}.dll").And.Contain($"lib/net10.0/{id}.xml", $"{id} carries its XML documentation");
        }

        Entries(Path.Combine(feed, $"PcieEmu.Devices.{version}.nupkg")).Should()
            .Contain("contentFiles/any/any/firmware-models/pcieemu-audio/default.json", "a project referencing the cards gets the model files");
        Entries(Path.Combine(feed, $"PcieEmu.Harness.{version}.nupkg")).Should()
            .Contain("contentFiles/any/any/qemu/provision/provision.sh", "a project referencing the harness gets the provisioning scripts")
            .And.Contain("contentFiles/any/any/qemu/drivers/pcieemu_audio/pcieemu_audio_main.c", "and the driver sources");
        Entries(Path.Combine(feed, $"PcieEmu.Hosting.{version}.nupkg")).Should()
            .Contain("contentFiles/any/any/qemu/provision/provision.sh", "NuGet does not pass the harness' content files on: a project referencing only hosting gets its own copy");
        var tool = Entries(Path.Combine(feed, $"pcieemu.{version}.nupkg"));
        tool.Should().Contain("tools/net10.0/any/pcieemu.dll")
            .And.Contain("tools/net10.0/any/firmware-models/pcieemu-audio/default.json")
            .And.Contain("tools/net10.0/any/firmware-models/schema/card-model.schema.json")
            .And.Contain("tools/net10.0/any/qemu/provision/provision.sh")
            .And.Contain("tools/net10.0/any/qemu/guest/init")
            .And.Contain("tools/net10.0/any/qemu/drivers/pcieemu_audio/Kbuild");
        tool.Should().NotContain(e => e.EndsWith(".ko", StringComparison.Ordinal) || e.EndsWith(".o", StringComparison.Ordinal), "no kernel build products");

        // 2. Install as a user does, from a NuGet.config naming the local feed and the repository's own source.
        string config = packed.ConfigFile;
        var clock = Stopwatch.StartNew();
        var install = await RunAsync(TimeSpan.FromMinutes(3), empty, Dotnet,
            "tool", "install", "pcieemu", "--tool-path", tools, "--version", version, "--configfile", config);
        clock.Stop();
        install.Exit.Should().Be(0, $"dotnet tool install failed\n{install.Text}");
        output.WriteLine($"dotnet tool install: {clock.Elapsed.TotalSeconds:F1} s");
        string pcieemu = Path.Combine(tools, "pcieemu");
        File.Exists(pcieemu).Should().BeTrue(install.Text);

        // 3. Run it from an empty directory, outside any checkout.
        Processes.FindCheckoutFrom(empty).Should().BeNull("the directory must be outside the checkout for this test to mean anything");
        var help = await RunAsync(TimeSpan.FromMinutes(1), empty, pcieemu, "--help");
        help.Exit.Should().Be(0, help.Text);
        help.Stdout.Should().Contain("demo").And.Contain("boot").And.Contain("serve").And.Contain("validate");
        NoRepositoryComplaint(help);

        var validate = await RunAsync(TimeSpan.FromMinutes(1), empty, pcieemu, "validate");
        validate.Exit.Should().Be(0, validate.Text);
        validate.Stdout.Should().Contain("ok: default.json").And.Contain("ok: pro.json", "validate with no file checks the bundled models");
        NoRepositoryComplaint(validate);

        string packagedModel = Directory.GetFiles(Path.Combine(tools, ".store"), "default.json", SearchOption.AllDirectories)
            .Single(f => f.EndsWith(Path.Combine("firmware-models", "pcieemu-audio", "default.json"), StringComparison.Ordinal));
        var validateFile = await RunAsync(TimeSpan.FromMinutes(1), empty, pcieemu, "validate", packagedModel);
        validateFile.Exit.Should().Be(0, validateFile.Text);
        validateFile.Stdout.Should().Contain("ok: default.json");

        // 4. The README's main job, from the installed tool: provisioning runs the packaged scripts (cached by
        // content, so a run after the integration tests reuses their QEMU, guest and driver), boots, plays, records.
        string wavs = Path.Combine(_root, "demo");
        clock.Restart();
        var demo = await RunAsync(TimeSpan.FromMinutes(15), empty, pcieemu, "demo", "--seconds", "0.25", "--out", wavs);
        output.WriteLine($"pcieemu demo: {clock.Elapsed.TotalSeconds:F1} s");
        demo.Exit.Should().Be(0, $"the installed tool's demo\n{demo.Text}");
        demo.Stdout.Should().Contain("demo: every sample matched");
        NoRepositoryComplaint(demo);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static void NoRepositoryComplaint(ProcessResult r)
    {
        r.Text.Should().NotContain("cannot find the PcieEmu repository").And.NotContain("PCIEEMU_REPO").And.NotContain("no PcieEmu checkout");
    }

    private static List<string> Entries(string nupkg)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        return [.. zip.Entries.Select(e => e.FullName)];
    }

    private Task<ProcessResult> RunAsync(TimeSpan timeout, string workingDirectory, string file, params string[] args) =>
        Processes.RunAsync(output, timeout, workingDirectory, file, args);

    private static string Dotnet => Processes.Dotnet;
}
