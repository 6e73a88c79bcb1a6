namespace PcieEmu.Devices;

/// <summary>
/// Where the repository's data lives (model files, provisioning scripts, driver sources). Found from
/// $PCIEEMU_REPO, the current directory, or the running binary's location, whichever holds PcieEmu.sln first.
/// </summary>
public static class Repository
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

    public static string Root => FindRoot()
        ?? throw new DirectoryNotFoundException("cannot find the PcieEmu repository (no PcieEmu.sln above the current directory or the binary); set PCIEEMU_REPO");

    public static string DefaultModelPath => Path.Combine(Root, "firmware-models", "pcieemu-audio", "default.json");

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
