using System.CommandLine;
using PcieEmu.Devices.Codegen;

namespace PcieEmu.Cli.Commands;

/// <summary>`pcieemu codegen [--check]`: regenerate (or verify) the files derived from the register maps.</summary>
internal static class CodegenCommand
{
    public static Command Create()
    {
        var check = new Option<bool>("--check") { Description = "Only verify the committed files are current; exit 1 if not." };
        var command = new Command("codegen", "Generate the driver header and C# register constants from firmware-models/*/registers.json") { check };
        command.SetAction(parse =>
        {
            string? root = PcieEmu.Devices.Repository.FindRoot();
            if (root is null)
            {
                Console.Error.WriteLine("codegen: needs a PcieEmu checkout to write the generated sources into (no PcieEmu.sln above the current directory or the binary); run it inside one or set PCIEEMU_REPO");
                return 2;
            }

            int stale = 0;
            foreach (var (path, content) in GeneratedFiles.Render(root))
            {
                string full = Path.Combine(root, path);
                bool current = File.Exists(full) && File.ReadAllText(full) == content;
                if (parse.GetValue(check))
                {
                    if (!current)
                    {
                        Console.Error.WriteLine($"stale: {path}");
                        stale++;
                    }

                    continue;
                }

                if (!current)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                    File.WriteAllText(full, content);
                    Console.WriteLine($"wrote {path}");
                }
            }

            return stale == 0 ? 0 : 1;
        });
        return command;
    }
}
