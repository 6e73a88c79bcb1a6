namespace PcieEmu.Devices;

/// <summary>
/// The source checkout, for what only a developer does with one: tests that read the spec or re-record committed
/// files. The tools' own data comes from <see cref="DataFiles"/>, beside the
/// binary. Found from $PCIEEMU_REPO, the current directory, or the running binary's location, whichever holds
/// PcieEmu.sln first.
/// </summary>
internal static class Repository
{
    public static string? FindRoot()
    {
        string? env = Environment.GetEnvironmentVariable("PCIEEMU_REPO");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "PcieEmu.sln")))
        {
            return Path.GetFullPath(env);
        }

        return FindRootFrom(Environment.CurrentDirectory) ?? FindRootFrom(AppContext.BaseDirectory);
    }

    /// <summary>The checkout; throws when there is none (callers are developer tools and tests).</summary>
    public static string Root => FindRoot()
        ?? throw new DirectoryNotFoundException("no PcieEmu checkout (no PcieEmu.sln above the current directory or the binary); run inside one or set PCIEEMU_REPO");

    /// <summary>Walks up from <paramref name="start"/> to the directory holding PcieEmu.sln.</summary>
    public static string? FindRootFrom(string start)
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
