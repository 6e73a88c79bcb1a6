using System.CommandLine;
using PcieEmu.Devices.Models;

namespace PcieEmu.Cli.Commands;

/// <summary>`pcieemu validate FILE...`: check model files against the schema and the model rules.</summary>
internal static class ValidateCommand
{
    public static Command Create()
    {
        var files = new Argument<FileInfo[]>("model") { Description = "Model file(s) to check", Arity = ArgumentArity.OneOrMore };
        var command = new Command("validate", "Validate card model files") { files };
        command.SetAction(parse =>
        {
            int bad = 0;
            foreach (var f in parse.GetValue(files)!)
            {
                try
                {
                    var m = CardModelLoader.Load(f.FullName);
                    Console.WriteLine($"ok: {f.Name}: {m.Name} ({m.Identity.VendorId:x4}:{m.Identity.DeviceId:x4}, {m.PlaybackStreams}+{m.CaptureStreams} streams, {m.MsixVectors} MSI-X vectors)");
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
