namespace PcieEmu.Codegen.Tests;

/// <summary>Finds files of the repository from the test's output directory.</summary>
internal static class Repository
{
    public static string Root => CodegenTool.FindRootFrom(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException($"PcieEmu.sln not found above {AppContext.BaseDirectory}");

    public static string AudioModel(string file) => Path.Combine(Root, "firmware-models", "pcieemu-audio", file);
}

/// <summary>A scratch checkout: PcieEmu.sln and copies of the register maps the generator reads, removed on dispose.</summary>
internal sealed class ScratchCheckout : IDisposable
{
    public ScratchCheckout()
    {
        Root = Path.Combine(Path.GetTempPath(), "pcieemu-codegen-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        File.WriteAllText(Path.Combine(Root, "PcieEmu.sln"), "");
        foreach (var t in GeneratedFiles.Targets)
        {
            string map = Path.Combine(Root, t.RegisterMap);
            Directory.CreateDirectory(Path.GetDirectoryName(map)!);
            File.Copy(Path.Combine(Repository.Root, t.RegisterMap), map);
        }
    }

    public string Root { get; }

    public string PathOf(string relative) => Path.Combine(Root, relative);

    /// <summary>Runs the tool on this checkout: exit code, stdout and stderr.</summary>
    public (int Exit, string Stdout, string Stderr) Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int exit = CodegenTool.Run([.. args, "--root", Root], stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
