using PcieEmu.Harness.Logging;

namespace PcieEmu.Harness.Provisioning;

/// <summary>
/// The driver modules of a guest session: the project's (unless the session leaves them out) and the user's
/// (<see cref="GuestSessionOptions.Drivers"/>), read, built or found in the cache and checked before anything
/// starts; then the list /init insmods and, once the guest is up, which of them it failed to load and why.
/// </summary>
internal sealed class SessionDrivers
{
    /// <param name="loadProjectDrivers">The project's own drivers are loaded (<see cref="GuestSessionOptions.LoadDrivers"/>).</param>
    /// <param name="artifacts">Provisioning's output, which names the project's drivers.</param>
    /// <param name="builds">The user's drivers, built or taken from the cache, in option order.</param>
    public SessionDrivers(bool loadProjectDrivers, GuestArtifacts artifacts, IReadOnlyList<UserDriverBuild> builds)
    {
        Builds = builds;
        ToLoad = ModulesToLoad(loadProjectDrivers, artifacts, builds);
    }

    /// <summary>The user drivers, in order: built now or taken from the cache.</summary>
    public IReadOnlyList<UserDriverBuild> Builds { get; }

    /// <summary>The modules /init insmods (pcieemu.drivers=), in order: the project's when loaded, then the user's.</summary>
    public IReadOnlyList<string> ToLoad { get; }

    public static IReadOnlyList<string> ModulesToLoad(bool loadProjectDrivers, GuestArtifacts artifacts, IReadOnlyList<UserDriverBuild> builds) =>
        [.. (loadProjectDrivers ? artifacts.Drivers : []), .. builds.SelectMany(b => b.Modules).Select(m => m.Name)];

    /// <summary>
    /// For each module of <see cref="ToLoad"/> the guest did not load (not in <paramref name="loaded"/>, its agent's
    /// @@READY line), the reason /init gave on the console ("hello: insmod … failed: …").
    /// </summary>
    public IReadOnlyList<string> LoadFailures(IReadOnlyList<string> loaded, SessionLogs logs)
    {
        var loadedNames = loaded.Select(d => d.Replace('-', '_')).ToHashSet(StringComparer.Ordinal);
        var missing = ToLoad.Where(d => !loadedNames.Contains(d.Replace('-', '_'))).ToList();
        if (missing.Count == 0)
        {
            return [];
        }

        string[] console = logs.ConsoleLines();
        return [.. missing.Select(d =>
            console.LastOrDefault(l => l.Contains("pcieemu-init: insmod", StringComparison.Ordinal) && l.Contains($"/{d}.ko", StringComparison.Ordinal)) is { } why
                ? $"{d}: {why[(why.IndexOf("pcieemu-init: ", StringComparison.Ordinal) + 14)..].Trim()}"
                : $"{d}: not loaded (see {logs.ConsoleLog})")];
    }

    /// <summary>Lists each directory's files (a bad directory fails here, before provisioning); a directory given twice is an error.</summary>
    public static List<DriverSource> ReadSources(IReadOnlyList<string> directories)
    {
        var sources = new List<DriverSource>();
        foreach (string dir in directories)
        {
            var source = DriverSource.Read(dir);
            if (sources.Any(s => s.Directory == source.Directory))
            {
                throw new DriverBuildException($"driver {source.Directory} is given twice");
            }

            sources.Add(source);
        }

        return sources;
    }

    /// <summary>
    /// One progress step per driver ("building" or "cached", with the cache entry), then what was built and any
    /// warnings as messages; finally the module names are checked against each other and the project's.
    /// </summary>
    public static async Task<IReadOnlyList<UserDriverBuild>> BuildAsync(IReadOnlyList<DriverSource> sources, GuestArtifacts artifacts,
        bool loadProjectDrivers, IProgress<ProvisionStep>? progress, int firstStep, int stepCount, IProgress<string>? messages, CancellationToken cancellationToken)
    {
        if (sources.Count == 0)
        {
            return [];
        }

        var environment = await KernelBuildEnvironment.ProbeAsync(artifacts, cancellationToken);
        string root = UserDrivers.CacheRoot(artifacts);
        var builds = new List<UserDriverBuild>();
        for (int i = 0; i < sources.Count; i++)
        {
            var plan = UserDrivers.Plan(sources[i], environment, root);
            progress?.Report(new ProvisionStep(firstStep + i, stepCount, plan.Cached
                ? $"driver {sources[i].Name}: cached ({plan.CacheDirectory})"
                : $"driver {sources[i].Name}: building against {environment.KernelAbi} into {plan.CacheDirectory}"));
            var build = await UserDrivers.BuildAsync(plan, environment, cancellationToken);
            Report(build, messages);
            builds.Add(build);
        }

        UserDrivers.CheckNames(builds, artifacts.Drivers, loadProjectDrivers);
        return builds;
    }

    private static void Report(UserDriverBuild build, IProgress<string>? messages)
    {
        if (messages is null)
        {
            return;
        }

        string modules = string.Join(", ", build.Modules.Select(m => m.Name + ".ko"));
        string warnings = build.Warnings switch { 0 => "", 1 => ", 1 warning", var n => $", {n} warnings" };
        if (!build.Cached)
        {
            messages.Report($"driver {build.SourceDirectory}: built {modules} in {build.BuildTime.TotalSeconds:F1} s{warnings}; log: {build.LogPath}");
        }
        else if (build.Diagnostics.Count > 0)
        {
            messages.Report($"driver {build.SourceDirectory}: {modules} from the cache (unchanged sources){warnings}; log: {build.LogPath}");
        }

        foreach (string line in build.Diagnostics)
        {
            messages.Report(line);
        }
    }
}
