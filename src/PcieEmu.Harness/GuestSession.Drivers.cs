using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Harness;

/// <summary>The user drivers of a session (<see cref="GuestSessionOptions.Drivers"/>): read, built or found in the cache, checked.</summary>
public sealed partial class GuestSession
{
    /// <summary>Lists each directory's files (a bad directory fails here, before provisioning); a directory given twice is an error.</summary>
    private static List<DriverSource> ReadDriverSources(IReadOnlyList<string> directories)
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
    private static async Task<IReadOnlyList<UserDriverBuild>> BuildDriversAsync(IReadOnlyList<DriverSource> sources, GuestArtifacts artifacts,
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
