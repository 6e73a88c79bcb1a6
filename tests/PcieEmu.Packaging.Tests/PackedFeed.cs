using System.Diagnostics;
using System.Text;
using System.Xml.Linq;
using Xunit.Abstractions;

namespace PcieEmu.Packaging.Tests;

/// <summary>
/// The solution's packages, packed once per test run (from what the run already built, dotnet pack --no-build)
/// into a temporary local feed, with a NuGet.config naming that feed and the repository's own package sources.
/// A version no earlier run used, so nothing can come from a NuGet cache. Shared by the tests of the
/// <see cref="PackagesCollection"/>; a failed pack fails each of them (<see cref="Packed"/>), never skips.
/// </summary>
public sealed class PackedFeed : IAsyncLifetime
{
#if DEBUG
    public const string Configuration = "Debug";
#else
    public const string Configuration = "Release";
#endif

    public string Root { get; } = Directory.CreateTempSubdirectory("pcieemu-pack-").FullName;

    public string Checkout { get; } = Processes.FindCheckout();

    public string Version { get; } = $"0.0.0-packtest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    public string Feed => Path.Combine(Root, "feed");

    /// <summary>The local feed first, then the package sources of the repository's nuget.config (for restore's sake).</summary>
    public string ConfigFile => Path.Combine(Root, "NuGet.config");

    public ProcessResult? Pack { get; private set; }

    public TimeSpan PackTime { get; private set; }

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        Pack = await Processes.RunAsync(null, TimeSpan.FromMinutes(5), Checkout, Processes.Dotnet,
            "pack", Path.Combine(Checkout, "PcieEmu.sln"), "--no-build", "-c", Configuration, "-o", Feed, $"-p:Version={Version}", "-nologo");
        PackTime = clock.Elapsed;
        await File.WriteAllTextAsync(ConfigFile, NuGetConfig(Feed, Checkout));
    }

    /// <summary>Fails the calling test (with pack's output) unless the packages were packed.</summary>
    public void Packed(ITestOutputHelper output)
    {
        Pack.Should().NotBeNull();
        output.WriteLine($"dotnet pack: {PackTime.TotalSeconds:F1} s, version {Version}");
        Pack!.Exit.Should().Be(0, $"dotnet pack failed\n{Pack.Text}");
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return Task.CompletedTask;
    }

    /// <summary>A NuGet.config with <paramref name="feed"/> first, then the package sources of the checkout's nuget.config.</summary>
    public static string NuGetConfig(string feed, string checkout)
    {
        var sb = new StringBuilder();
        sb.AppendLine("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
        sb.AppendLine("<configuration>");
        sb.AppendLine("  <packageSources>");
        sb.AppendLine("    <clear />");
        sb.AppendLine($"    <add key=\"local\" value=\"{System.Security.SecurityElement.Escape(feed)}\" />");
        var repoConfig = XDocument.Load(Path.Combine(checkout, "nuget.config"));
        foreach (var add in repoConfig.Descendants("packageSources").Elements("add"))
        {
            sb.AppendLine($"    {add}");
        }

        sb.AppendLine("  </packageSources>");
        sb.AppendLine("</configuration>");
        return sb.ToString();
    }
}

/// <summary>The tests that use the packed feed: packing happens once for all of them, and they run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class PackagesCollection : ICollectionFixture<PackedFeed>
{
    public const string Name = "packages";
}

/// <summary>How a child process of the packaging tests ended: its exit code and everything it wrote.</summary>
public sealed record ProcessResult(int Exit, string Stdout, string Stderr)
{
    public string Text => $"exit {Exit}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>
/// Child processes of the packaging tests (dotnet, the installed tool, the example's host program): output
/// captured and logged, the whole process tree killed when one runs over its time.
/// </summary>
public static class Processes
{
    /// <summary>The dotnet that runs this test (the tool's apphost needs its root too).</summary>
    public static string Dotnet
    {
        get
        {
            string? self = Environment.ProcessPath;
            if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                return self;
            }

            string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            return !string.IsNullOrEmpty(host) && File.Exists(host) ? host : "dotnet";
        }
    }

    public static string? DotnetRoot()
    {
        string dotnet = Dotnet;
        if (!Path.IsPathRooted(dotnet))
        {
            dotnet = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
                .Select(d => Path.Combine(d, "dotnet")).FirstOrDefault(File.Exists) ?? dotnet;
        }

        var info = new FileInfo(dotnet);
        string resolved = info.LinkTarget is not null ? info.ResolveLinkTarget(returnFinalTarget: true)!.FullName : info.FullName;
        return Path.GetDirectoryName(resolved);
    }

    /// <summary>Runs <paramref name="file"/> to its end; past <paramref name="timeout"/> kills its process tree and throws with its output.</summary>
    public static async Task<ProcessResult> RunAsync(ITestOutputHelper? output, TimeSpan timeout, string workingDirectory, string file, params string[] args)
    {
        output?.WriteLine($"$ (cd {workingDirectory} && {file} {string.Join(' ', args)})");
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment.Remove("PCIEEMU_REPO");
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        if (DotnetRoot() is { } root)
        {
            start.Environment["DOTNET_ROOT"] = root;
        }

        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            throw new TimeoutException($"{file} {string.Join(' ', args)} ran over {timeout}\nstdout:\n{await stdout}\nstderr:\n{await stderr}");
        }
        catch
        {
            Kill(process);
            throw;
        }

        var result = new ProcessResult(process.ExitCode, await stdout, await stderr);
        output?.WriteLine(result.Text);
        return result;
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public static string FindCheckout() => FindCheckoutFrom(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException($"no PcieEmu.sln above {AppContext.BaseDirectory}");

    public static string? FindCheckoutFrom(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PcieEmu.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}
