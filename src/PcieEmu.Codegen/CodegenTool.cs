using System.Text;

namespace PcieEmu.Codegen;

/// <summary>
/// The tool's command line: regenerate the files derived from the register maps in a checkout, or (--check) only
/// verify that the committed copies are current. Writes only files whose content changes, each through a temporary
/// file and a rename, so a compiler reading it never sees half a file.
/// </summary>
internal static class CodegenTool
{
    public const int Ok = 0;
    public const int Stale = 1;
    public const int Failed = 2;

    private const string Usage = """
        usage: dotnet run --project src/PcieEmu.Codegen -- [--check] [--root DIR]

        Generates the driver headers and the C# register constants and tables from firmware-models/*/registers.json.
        The build of PcieEmu.Devices runs it whenever a register map changes; run it by hand to regenerate without
        building, or with --check to verify.

          --check     write nothing; exit 1 and name each generated file that is stale or missing
          --root DIR  the checkout (default: the directory holding PcieEmu.sln above the current directory, or
                      above this tool)
        """;

    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
    {
        bool check = false;
        string? root = null;
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--check":
                    check = true;
                    break;
                case "--root" when i + 1 < args.Count:
                    root = Path.GetFullPath(args[++i]);
                    break;
                case "-h" or "--help":
                    stdout.WriteLine(Usage);
                    return Ok;
                default:
                    stderr.WriteLine($"codegen: unexpected argument '{args[i]}'");
                    stderr.WriteLine(Usage);
                    return Failed;
            }
        }

        root ??= FindRootFrom(Environment.CurrentDirectory) ?? FindRootFrom(AppContext.BaseDirectory);
        if (root is null || !File.Exists(Path.Combine(root, "PcieEmu.sln")))
        {
            stderr.WriteLine($"codegen: {(root is null ? "no PcieEmu.sln above the current directory or the tool" : $"no PcieEmu.sln in {root}")}; run it inside a checkout or pass --root");
            return Failed;
        }

        List<(string Path, string Content)> files;
        try
        {
            files = [.. GeneratedFiles.Render(root)];
        }
        catch (RegisterMapException e)
        {
            stderr.WriteLine($"codegen: {e.Message}");
            return Failed;
        }

        int stale = 0;
        foreach (var (path, content) in files)
        {
            string full = Path.Combine(root, path);
            if (File.Exists(full) && File.ReadAllText(full) == content)
            {
                continue;
            }

            if (check)
            {
                stderr.WriteLine($"codegen: stale: {path}");
                stale++;
                continue;
            }

            WriteAtomically(full, content);
            stdout.WriteLine($"codegen: wrote {path}");
        }

        if (stale > 0)
        {
            stderr.WriteLine($"codegen: {stale} generated file(s) differ from their register maps; regenerate them (dotnet run --project {GeneratedFiles.Generator}, or build) and commit the result");
            return Stale;
        }

        return Ok;
    }

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

    private static void WriteAtomically(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            File.WriteAllText(temporary, content, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
