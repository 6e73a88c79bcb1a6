using System.CommandLine;
using PcieEmu.Devices;
using PcieEmu.Devices.Models;

namespace PcieEmu.Cli.Commands;

/// <summary>`pcieemu validate [FILE...]`: check model files (default: the bundled ones) against the schema and the model rules.</summary>
internal static class ValidateCommand
{
    public static Command Create()
    {
        var files = new Argument<FileInfo[]>("model") { Description = "Model file(s) to check (default: the bundled models, firmware-models/ beside the binary)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("validate", "Validate card model files") { files };
        command.SetAction(parse =>
        {
            int bad = 0;
            FileInfo[] given = parse.GetValue(files) ?? [];
            FileInfo[] models = given.Length > 0 ? given : [new FileInfo(DataFiles.DefaultModelPath), new FileInfo(DataFiles.ProModelPath)];
            foreach (var f in models)
            {
                try
                {
                    var m = CardModelLoader.Load(f.FullName);
                    string streams = m is AudioCardModel audio ? $"{audio.PlaybackStreams}+{audio.CaptureStreams} streams, " : "";
                    Console.WriteLine($"ok: {f.Name}: {m.Name} ({m.Identity.VendorId:x4}:{m.Identity.DeviceId:x4}, {streams}{m.MsixVectors} MSI-X vectors)");
                }
                catch (CardModelException e)
                {
                    Console.Error.WriteLine(e.Message);
                    bad++;
                }
            }

            return bad == 0 ? 0 : 1;
        });
        return command;
    }
}
