using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PcieEmu.Harness.Processes;

namespace PcieEmu.Harness.Provisioning;

/// <summary>One kernel module of a user driver build: its name (the .ko file's) and the cached .ko.</summary>
/// <param name="Name">The module's name, as lsmod and the guest's insmod see it.</param>
/// <param name="Path">The built module in the cache.</param>
public sealed record UserDriverModule(string Name, string Path);

/// <summary>Where a user driver's build lives in the cache, and whether it is there already.</summary>
internal sealed record UserDriverPlan(DriverSource Source, string Key, string CacheDirectory, bool Cached);

/// <summary>A user driver, built or found in the cache (<see cref="GuestSession.DriverBuilds"/>).</summary>
/// <param name="SourceDirectory">The driver's directory, as given (<see cref="GuestSessionOptions.Drivers"/>).</param>
/// <param name="CacheDirectory">The cache entry holding the build.</param>
/// <param name="Modules">The modules it built, loaded in this order.</param>
/// <param name="Diagnostics">The compiler's warnings, with paths into <paramref name="SourceDirectory"/>.</param>
/// <param name="Warnings">How many compiler warnings the build had.</param>
/// <param name="Cached">Taken from the cache rather than built now.</param>
/// <param name="LogPath">The build log (paths rewritten to the user's sources).</param>
/// <param name="BuildTime">How long the build took (for a cached build: when it was built).</param>
public sealed record UserDriverBuild(
    string SourceDirectory,
    string CacheDirectory,
    IReadOnlyList<UserDriverModule> Modules,
    IReadOnlyList<string> Diagnostics,
    int Warnings,
    bool Cached,
    string LogPath,
    TimeSpan BuildTime);

/// <summary>
/// Builds users' out-of-tree kernel modules (`boot --driver DIR`) against the guest kernel's headers, caches the
/// result by content, and adds the modules to a guest's initrd.
///
/// <para>The cache is &lt;provisioning cache&gt;/user-drivers/&lt;key&gt;/, the key a hash of the sources' names,
/// executable bits and contents (<see cref="DriverSource.ContentHash"/>) and of what they are built against
/// (<see cref="KernelBuildEnvironment.Identity"/>): unchanged sources are never built twice, wherever they are, and a
/// changed file, kernel or compiler builds again. A build runs in a scratch copy beside the cache entry
/// (.tmp-&lt;key&gt;-&lt;pid&gt;-&lt;random&gt;) that is removed on every path, and is published by renaming its output into
/// place last, so a half-built entry is never used and parallel builders of one key both succeed. Nothing is ever
/// written into the user's directory.</para>
///
/// <para>Unlike the project's own driver (provisioning builds it with -Werror and fails on any warning), a user's
/// driver may build with warnings: they are shown, on every boot that uses the build, with paths into the user's
/// directory. A failed build is one line: the first problem and the log.</para>
/// </summary>
internal static class UserDrivers
{
    /// <summary>Bump when the build recipe changes, so older cache entries are not taken for the new recipe's.</summary>
    private const string Recipe = "user-driver 1: make -C kdir M=copy modules, no -Werror";

    /// <summary>Where guest modules of user drivers go (/init's pcieemu.drivers= insmods from there).</summary>
    public const string GuestModuleDirectory = "lib/modules/pcieemu";

    public static string CacheRoot(GuestArtifacts artifacts) =>
        Path.Combine(artifacts.CacheDirectory ?? Path.GetDirectoryName(artifacts.ManifestPath)!, "user-drivers");

    /// <summary>The cache key: 16 hex digits of SHA-256 over the recipe, the build environment and the sources.</summary>
    public static string Key(string sourceHash, string environmentIdentity) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{Recipe}\n{environmentIdentity}\nsources={sourceHash}\n")))[..16];

    public static UserDriverPlan Plan(DriverSource source, KernelBuildEnvironment environment, string cacheRoot)
    {
        string key = Key(source.ContentHash(), environment.Identity);
        string dir = Path.Combine(cacheRoot, key);
        return new UserDriverPlan(source, key, dir, TryLoad(dir, source.Directory) is not null);
    }

    /// <summary>Takes the build from the cache, or builds it; every failure is a <see cref="DriverBuildException"/> of one line.</summary>
    public static async Task<UserDriverBuild> BuildAsync(UserDriverPlan plan, KernelBuildEnvironment environment, CancellationToken cancellationToken = default)
    {
        if (TryLoad(plan.CacheDirectory, plan.Source.Directory) is { } cached)
        {
            return cached;
        }

        string root = Path.GetDirectoryName(plan.CacheDirectory)!;
        Directory.CreateDirectory(root);
        string scratch = Path.Combine(root, $".tmp-{plan.Key}-{Environment.ProcessId}-{RandomNumberGenerator.GetHexString(6, lowercase: true)}");
        bool keep = false;
        try
        {
            var build = await BuildInAsync(plan, environment, scratch, cancellationToken);
            return Publish(plan, scratch, build);
        }
        catch (DriverBuildException)
        {
            keep = Environment.GetEnvironmentVariable("PCIEEMU_KEEP_FAILED") is { Length: > 0 };
            throw;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DriverBuildException($"driver {plan.Source.Directory}: cannot build in {scratch}: {e.Message}");
        }
        finally
        {
            if (!keep)
            {
                DeleteOurs(scratch);
            }
        }
    }

    /// <summary>
    /// Fails when two modules the guest would load share a name (a dash and an underscore are the same to the
    /// kernel): between user drivers, and with the project's own drivers when those are loaded too.
    /// </summary>
    public static void CheckNames(IReadOnlyList<UserDriverBuild> builds, IReadOnlyList<string> projectDrivers, bool loadProjectDrivers)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        if (loadProjectDrivers)
        {
            foreach (string d in projectDrivers)
            {
                seen[Normalize(d)] = "";
            }
        }

        foreach (var b in builds)
        {
            foreach (var m in b.Modules)
            {
                if (seen.TryGetValue(Normalize(m.Name), out string? other))
                {
                    throw new DriverBuildException(other.Length == 0
                        ? $"driver {b.SourceDirectory} builds {m.Name}.ko, which is the name of the project's own driver, loaded too; leave ours out (boot --no-driver) to load yours instead"
                        : other == b.SourceDirectory
                            ? $"driver {b.SourceDirectory} is given twice"
                            : $"drivers {other} and {b.SourceDirectory} both build {m.Name}.ko; the guest can load only one module of a name");
                }

                seen[Normalize(m.Name)] = b.SourceDirectory;
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="output"/>: <paramref name="baseInitrd"/>, zero padding to a 4-byte boundary, and a newc
    /// archive with each module at /lib/modules/pcieemu/&lt;name&gt;.ko (replacing a file of that name in the base).
    /// </summary>
    public static void WriteInitrd(string baseInitrd, IReadOnlyList<UserDriverBuild> builds, string output)
    {
        using var stream = new FileStream(output, FileMode.Create, FileAccess.Write);
        using (var source = File.OpenRead(baseInitrd))
        {
            source.CopyTo(stream);
        }

        stream.Write(new byte[NewcArchive.PaddingAfter(stream.Length)]);
        var archive = new NewcArchive(stream);
        string path = "";
        foreach (string part in GuestModuleDirectory.Split('/'))
        {
            path = path.Length == 0 ? part : path + "/" + part;
            archive.AddDirectory(path, DateTime.UtcNow);
        }

        foreach (var m in builds.SelectMany(b => b.Modules))
        {
            archive.AddFile($"{GuestModuleDirectory}/{m.Name}.ko", File.ReadAllBytes(m.Path), File.GetLastWriteTimeUtc(m.Path));
        }

        archive.Finish();
    }

    private static string Normalize(string module) => module.Replace('-', '_');

    private static async Task<UserDriverBuild> BuildInAsync(UserDriverPlan plan, KernelBuildEnvironment environment, string scratch, CancellationToken cancellationToken)
    {
        var source = plan.Source;
        string copy = Path.Combine(scratch, "src");
        foreach (var f in source.Files)
        {
            string target = Path.Combine(copy, f.RelativePath);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f.FullPath, target);
            File.SetUnixFileMode(target, f.Executable ? (UnixFileMode)0x1ED : (UnixFileMode)0x1A4);
        }

        var clock = Stopwatch.StartNew();
        var (exit, output) = await MakeAsync(environment, copy, cancellationToken);
        var elapsed = clock.Elapsed;
        var lines = output.Select(l => DriverBuildLog.Rewrite(l, copy, source.Directory)).ToList();
        string header = $"+ make -C {environment.HeadersDirectory} M={copy} modules   (sources {source.Directory}, key {plan.Key}, exit {exit}, {elapsed.TotalSeconds:F1} s)";
        string log = Path.Combine(scratch, "build.log");
        await File.WriteAllLinesAsync(log, [header, .. lines], CancellationToken.None);
        if (exit != 0)
        {
            string failed = SaveFailedLog(plan, log);
            throw new DriverBuildException($"driver {source.Directory} failed to build: {DriverBuildLog.FirstProblem(lines) ?? $"make exited {exit}"}; log: {failed}", failed,
                DriverBuildLog.Diagnostics(lines));
        }

        var kos = BuiltModules(copy);
        if (kos.Count == 0)
        {
            string failed = SaveFailedLog(plan, log);
            throw new DriverBuildException($"driver {source.Directory} built no .ko file (does its Kbuild or Makefile set obj-m?); log: {failed}", failed);
        }

        string output2 = Path.Combine(scratch, "out");
        Directory.CreateDirectory(output2);
        var modules = new List<UserDriverModule>();
        foreach (string ko in kos)
        {
            string name = Path.GetFileNameWithoutExtension(ko);
            IReadOnlyList<KeyValuePair<string, string>> info;
            try
            {
                info = KernelModuleInfo.Read(ko);
            }
            catch (DriverBuildException e)
            {
                string failed = SaveFailedLog(plan, log);
                throw new DriverBuildException($"driver {source.Directory}: {e.Message}; log: {failed}", failed);
            }

            if (KernelModuleInfo.VermagicProblem(KernelModuleInfo.Get(info, "vermagic"), environment.KernelAbi) is { } problem)
            {
                string failed = SaveFailedLog(plan, log);
                throw new DriverBuildException($"driver {source.Directory}: {name}.ko {problem}; log: {failed}", failed);
            }

            if (modules.Any(m => m.Name == name))
            {
                string failed = SaveFailedLog(plan, log);
                throw new DriverBuildException($"driver {source.Directory} builds two modules named {name}.ko; log: {failed}", failed);
            }

            string target = Path.Combine(output2, name + ".ko");
            File.Copy(ko, target);
            modules.Add(new UserDriverModule(name, target));
        }

        var diagnostics = DriverBuildLog.Diagnostics(lines);
        int warnings = DriverBuildLog.CountWarnings(diagnostics);
        File.Copy(log, Path.Combine(output2, "build.log"));
        await File.WriteAllLinesAsync(Path.Combine(output2, "diagnostics"),
            DriverBuildLog.Diagnostics(output.Select(l => DriverBuildLog.Rewrite(l, copy, DriverBuildLog.SourcePlaceholder))), CancellationToken.None);
        await File.WriteAllLinesAsync(Path.Combine(output2, "meta"),
        [
            .. modules.Select(m => $"module={m.Name}"),
            $"warnings={warnings}",
            $"seconds={elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)}",
            $"source={source.Directory}",
        ], CancellationToken.None);
        await File.WriteAllTextAsync(Path.Combine(output2, ".complete"), DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture) + "\n", CancellationToken.None);
        return new UserDriverBuild(source.Directory, output2, modules, diagnostics, warnings, Cached: false, Path.Combine(output2, "build.log"), elapsed);
    }

    /// <summary>Renames the scratch output into place; when another builder was first, its (identical) entry is used.</summary>
    private static UserDriverBuild Publish(UserDriverPlan plan, string scratch, UserDriverBuild build)
    {
        string output = Path.Combine(scratch, "out");
        if (Directory.Exists(plan.CacheDirectory) && !File.Exists(Path.Combine(plan.CacheDirectory, ".complete")))
        {
            // Not a usable entry (we publish only complete ones): set it aside inside our scratch, which goes with it.
            Directory.Move(plan.CacheDirectory, Path.Combine(scratch, "stale"));
        }

        try
        {
            Directory.Move(output, plan.CacheDirectory);
        }
        catch (IOException) when (TryLoad(plan.CacheDirectory, plan.Source.Directory) is not null)
        {
            // A parallel build of the same key won the rename.
        }

        return TryLoad(plan.CacheDirectory, plan.Source.Directory, fresh: true) is { } published
            ? published with { Diagnostics = build.Diagnostics, BuildTime = build.BuildTime }
            : throw new DriverBuildException($"driver {plan.Source.Directory}: the build could not be stored in {plan.CacheDirectory}");
    }

    /// <summary>A complete cache entry, its diagnostics pointing at <paramref name="sourceDirectory"/>; null when absent or damaged.</summary>
    private static UserDriverBuild? TryLoad(string dir, string sourceDirectory, bool fresh = false)
    {
        try
        {
            if (!File.Exists(Path.Combine(dir, ".complete")))
            {
                return null;
            }

            var meta = File.ReadAllLines(Path.Combine(dir, "meta"));
            var modules = meta.Where(l => l.StartsWith("module=", StringComparison.Ordinal))
                .Select(l => l["module=".Length..]).Select(n => new UserDriverModule(n, Path.Combine(dir, n + ".ko"))).ToList();
            if (modules.Count == 0 || modules.Any(m => !File.Exists(m.Path)))
            {
                return null;
            }

            string Value(string key) => meta.FirstOrDefault(l => l.StartsWith(key + "=", StringComparison.Ordinal))?[(key.Length + 1)..] ?? "0";
            var diagnostics = File.ReadAllLines(Path.Combine(dir, "diagnostics"))
                .Select(l => l.Replace(DriverBuildLog.SourcePlaceholder, sourceDirectory, StringComparison.Ordinal)).ToList();
            return new UserDriverBuild(sourceDirectory, dir, modules, diagnostics,
                int.Parse(Value("warnings"), CultureInfo.InvariantCulture), Cached: !fresh, Path.Combine(dir, "build.log"),
                TimeSpan.FromSeconds(double.Parse(Value("seconds"), CultureInfo.InvariantCulture)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>The built .ko files in Kbuild's order (modules.order), else all of them by name.</summary>
    private static List<string> BuiltModules(string copy)
    {
        string order = Path.Combine(copy, "modules.order");
        if (File.Exists(order))
        {
            var listed = File.ReadAllLines(order).Where(l => l.Trim().Length > 0)
                .Select(l => Path.ChangeExtension(Path.IsPathRooted(l.Trim()) ? l.Trim() : Path.Combine(copy, l.Trim()), ".ko"))
                .Where(File.Exists).Distinct().ToList();
            if (listed.Count > 0)
            {
                return listed;
            }
        }

        var all = Directory.EnumerateFiles(copy, "*.ko", SearchOption.AllDirectories).ToList();
        all.Sort(StringComparer.Ordinal);
        return all;
    }

    /// <summary>Keeps a failed build's log (paths already rewritten) at &lt;cache&gt;/user-drivers/logs/&lt;name&gt;-&lt;key&gt;.log.</summary>
    private static string SaveFailedLog(UserDriverPlan plan, string log)
    {
        string logs = Path.Combine(Path.GetDirectoryName(plan.CacheDirectory)!, "logs");
        Directory.CreateDirectory(logs);
        string target = Path.Combine(logs, $"{plan.Source.Name}-{plan.Key}.log");
        File.Copy(log, target, overwrite: true);
        return target;
    }

    private static async Task<(int Exit, List<string> Output)> MakeAsync(KernelBuildEnvironment environment, string copy, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(environment.Make)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = copy,
        };
        foreach (string a in new[] { "-C", environment.HeadersDirectory, $"M={copy}", $"-j{Math.Max(1, Environment.ProcessorCount)}", "modules" })
        {
            psi.ArgumentList.Add(a);
        }

        // Plain quotes in the compiler's messages. The kernel's Makefile unexports LC_ALL, so the compiler sees LANG and
        // LC_CTYPE (UTF-8 there means curly quotes); set them all.
        foreach (string locale in new[] { "LC_ALL", "LANG", "LC_CTYPE", "LC_MESSAGES" })
        {
            psi.Environment[locale] = "C";
        }

        psi.Environment.Remove("MAKEFLAGS");
        psi.Environment.Remove("GCC_COLORS");
        var lines = new List<string>();
        using var process = ChildProcessLauncher.Start(psi);
        process.StandardInput.Close();
        using var kill = cancellationToken.Register(() => ChildProcessLauncher.Kill(process));
        async Task Pump(StreamReader reader)
        {
            while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
            {
                lock (lines)
                {
                    lines.Add(line);
                }
            }
        }

        await Task.WhenAll(Pump(process.StandardOutput), Pump(process.StandardError));
        await process.WaitForExitAsync(CancellationToken.None);
        cancellationToken.ThrowIfCancellationRequested();
        return (process.ExitCode, lines);
    }

    /// <summary>Deletes a scratch directory this process made (never anything else).</summary>
    private static void DeleteOurs(string scratch)
    {
        try
        {
            if (Directory.Exists(scratch))
            {
                Directory.Delete(scratch, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
