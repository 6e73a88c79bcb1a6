using System.Diagnostics;
using System.Security;
using Xunit.Abstractions;

namespace PcieEmu.Packaging.Tests;

/// <summary>
/// The example device as a user builds it from the packages (issue 12, item 5): src/examples/EduDevice's sources,
/// host program and driver copied into a temporary directory outside the checkout, a project file of its own with
/// PackageReferences only (PcieEmu.Hosting, PcieEmu.Pci at the packed version) and none of the repository's build
/// or package props, restored from the packed feed and built with dotnet build. Its host program then boots the
/// guest with the device and the copied driver (provisioned from the qemu/ files the packages put into its output),
/// runs factorial and a DMA copy through the driver's sysfs files, records the session, and replays it. Fails
/// loudly, never skips; every child (dotnet, the host program, QEMU under it) is killed when it runs over its time.
/// </summary>
[Collection(PackagesCollection.Name)]
public sealed class ExamplePackageTests(PackedFeed packed, ITestOutputHelper output) : IDisposable
{
    private const string Sysfs = "d=$(ls -d /sys/bus/pci/drivers/edu_example/0000:*)";

    private readonly string _root = Directory.CreateTempSubdirectory("pcieemu-example-").FullName;

    [Fact]
    public async Task Example_built_from_package_references_only_boots_its_driver_records_and_replays()
    {
        packed.Packed(output);
        string example = Path.Combine(packed.Checkout, "src", "examples", "EduDevice");
        string project = Directory.CreateDirectory(Path.Combine(_root, "EduDevice")).FullName;
        Processes.FindCheckoutFrom(project).Should().BeNull("the copy must be outside the checkout for this test to mean anything");

        // 1. The user's copy: the device, the host program, the driver sources; no bin/, obj/ or kernel build products.
        foreach (string file in Directory.GetFiles(example, "*.cs"))
        {
            File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
        }

        string driver = Directory.CreateDirectory(Path.Combine(project, "driver")).FullName;
        foreach (string file in Directory.GetFiles(Path.Combine(example, "driver"))
                     .Where(f => Path.GetExtension(f) is ".c" or ".h" || Path.GetFileName(f) is "Kbuild" or "Makefile"))
        {
            File.Copy(file, Path.Combine(driver, Path.GetFileName(file)));
        }

        File.Exists(Path.Combine(project, "Program.cs")).Should().BeTrue();
        File.Exists(Path.Combine(driver, "edu_example.c")).Should().BeTrue();
        await File.WriteAllTextAsync(Path.Combine(project, "EduDevice.csproj"), ProjectFile(packed.Version));
        // Nothing of the repository's build: its props are not above this folder, and these empty ones stop the search.
        await File.WriteAllTextAsync(Path.Combine(project, "Directory.Build.props"), "<Project />\n");
        await File.WriteAllTextAsync(Path.Combine(project, "Directory.Build.targets"), "<Project />\n");
        await File.WriteAllTextAsync(Path.Combine(project, "Directory.Packages.props"), "<Project />\n");
        await File.WriteAllTextAsync(Path.Combine(project, "NuGet.config"), NuGetConfig());

        // 2. dotnet build, warnings as errors: the example compiles cleanly against the packages.
        var clock = Stopwatch.StartNew();
        var build = await Processes.RunAsync(output, TimeSpan.FromMinutes(4), project, Processes.Dotnet,
            "build", "-c", "Debug", "-warnaserror", "-nologo");
        output.WriteLine($"dotnet build (restore from the feed included): {clock.Elapsed.TotalSeconds:F1} s");
        build.Exit.Should().Be(0, $"the example did not build from the packages\n{build.Text}");
        Directory.Exists(Path.Combine(_root, "packages", "pcieemu.hosting", packed.Version)).Should().BeTrue("the packages come from the packed feed");
        string assets = await File.ReadAllTextAsync(Path.Combine(project, "obj", "project.assets.json"));
        assets.Should().Contain($"\"PcieEmu.Hosting/{packed.Version}\"").And.Contain($"\"PcieEmu.Harness/{packed.Version}\"")
            .And.NotContain("\"type\": \"project\"", "package references only");

        string bin = Path.Combine(project, "bin", "Debug", "net10.0");
        string host = Path.Combine(bin, "edu-device");
        File.Exists(host).Should().BeTrue(build.Text);
        File.Exists(Path.Combine(bin, "qemu", "provision", "provision.sh")).Should().BeTrue("the packages put the provisioning scripts into the output");
        File.Exists(Path.Combine(bin, "driver", "edu_example.c")).Should().BeTrue("the project copies its driver beside the binary");

        // 3. Its host program boots the guest with the device and the copied driver, records, and runs the driver.
        string traces = Path.Combine(_root, "traces");
        clock.Restart();
        var boot = await Processes.RunAsync(output, TimeSpan.FromMinutes(10), project, host,
            "boot", "--driver", driver, "--trace", traces, "--timeout", "540",
            "--exec", $"{Sysfs} && echo 10 > $d/factorial && cat $d/factorial && echo 8192 > $d/dma_copy && cat $d/dma_copy");
        output.WriteLine($"edu-device boot: {clock.Elapsed.TotalSeconds:F1} s");
        boot.Exit.Should().Be(0, $"the example's boot\n{boot.Text}");
        boot.Stdout.Should().Be("3628800\nok 8192\n", "10! from the device's factorial unit, then an 8 KiB DMA copy the driver checked");
        boot.Stderr.Should().Contain("card0.petrace").And.NotContain("did not load driver");

        // 4. ... and replays the recording without QEMU.
        string trace = Path.Combine(traces, "card0.petrace");
        var replay = await Processes.RunAsync(output, TimeSpan.FromMinutes(2), project, host, "replay", trace);
        replay.Exit.Should().Be(0, $"replay of the example's recording\n{replay.Text}");
        replay.Stdout.Should().Contain("identical");
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

    /// <summary>
    /// The packed feed and the repository's sources; the packages go into a folder of this test (deleted with it)
    /// instead of the user's NuGet cache, which serves the rest (Microsoft.Extensions.*, System.CommandLine) as a
    /// fallback folder, so each run neither downloads them again nor leaves a copy of this run's packages behind.
    /// </summary>
    private string NuGetConfig()
    {
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set
            ? set
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string config = PackedFeed.NuGetConfig(packed.Feed, packed.Checkout);
        return config.Replace("</configuration>", $"""
              <config>
                <add key="globalPackagesFolder" value="{SecurityElement.Escape(Path.Combine(_root, "packages"))}" />
              </config>
              <fallbackPackageFolders>
                <add key="user" value="{SecurityElement.Escape(cache)}" />
              </fallbackPackageFolders>
            </configuration>
            """, StringComparison.Ordinal);
    }

    /// <summary>What a user's project file looks like: package references to the packed version, the driver copied to the output.</summary>
    private static string ProjectFile(string version) => $"""
        <Project Sdk="Microsoft.NET.Sdk">
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <TargetFramework>net10.0</TargetFramework>
            <Nullable>enable</Nullable>
            <ImplicitUsings>enable</ImplicitUsings>
            <AssemblyName>edu-device</AssemblyName>
            <ImportDirectoryPackagesProps>false</ImportDirectoryPackagesProps>
            <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
          </PropertyGroup>
          <ItemGroup>
            <PackageReference Include="PcieEmu.Hosting" Version="{SecurityElement.Escape(version)}" />
            <PackageReference Include="PcieEmu.Pci" Version="{SecurityElement.Escape(version)}" />
          </ItemGroup>
          <ItemGroup>
            <!-- PcieEmu is Linux only; this keeps the platform analyzer (CA1416) quiet. -->
            <AssemblyAttribute Include="System.Runtime.Versioning.SupportedOSPlatformAttribute"><_Parameter1>linux</_Parameter1></AssemblyAttribute>
          </ItemGroup>
          <ItemGroup>
            <Content Include="driver\*.c;driver\*.h;driver\Kbuild;driver\Makefile" CopyToOutputDirectory="PreserveNewest" />
          </ItemGroup>
        </Project>

        """;
}
