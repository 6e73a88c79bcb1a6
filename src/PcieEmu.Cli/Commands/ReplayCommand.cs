using System.CommandLine;
using PcieEmu.Devices;
using PcieEmu.Devices.Models;
using PcieEmu.Harness.Provisioning;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Replay;

namespace PcieEmu.Cli.Commands;

/// <summary>`pcieemu replay FILE [--model FILE] [--route S=R]`: replay a recorded session against the device model.</summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("trace") { Description = "Trace recorded with serve --trace or boot --trace" };
        var model = new Option<FileInfo?>("--model") { Description = "Rebuild the card from this model file (default: the copy inside the trace); it must be the model the trace was recorded with" };
        var routes = new Option<string[]>("--route") { Description = "STREAM=ROUTE overriding the recorded route, e.g. a capture WAV file that now lives elsewhere" };
        var context = new Option<int>("--context") { Description = "Records shown before and after a divergence", DefaultValueFactory = _ => 6 };
        var truncated = new Option<bool>("--allow-truncated") { Description = "Replay a trace whose recorder was killed up to its last whole unit instead of refusing it" };
        var command = new Command("replay", "Replay a trace against the device model in virtual time; exit 0 when the device behaves exactly as recorded") { file, model, routes, context, truncated };
        command.SetAction(async parse =>
        {
            using var loggers = CliLogging.Create(parse, Microsoft.Extensions.Logging.LogLevel.Warning);
            ReplayOptions options;
            try
            {
                options = new ReplayOptions
                {
                    ModelPath = parse.GetValue(model)?.FullName,
                    Routes = CardOptions.ParseRoutes(parse.GetValue(routes) ?? []),
                    Context = Math.Clamp(parse.GetValue(context), 0, 1000),
                    AllowTruncated = parse.GetValue(truncated),
                };
            }
            catch (CardModelException e)
            {
                Console.Error.WriteLine($"replay: {e.Message}");
                return 2;
            }

            string path = parse.GetValue(file)!.FullName;
            ReplayResult result;
            try
            {
                result = await ProgressDisplay.RunAsync("replay", p => Task.Run(() => TraceReplayer.Replay(path, options with
                {
                    Progress = new TenthsProgress(p),
                }, loggers)));
            }
            catch (Exception e) when (e is TraceFormatException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"replay: {e.Message}");
                return 2;
            }

            return result.WriteOutcome(Console.Out);
        });
        return command;
    }

    /// <summary>Turns replay progress into at most ten steps (a line each when stderr is not a terminal).</summary>
    private sealed class TenthsProgress(IProgress<ProvisionStep> steps) : IProgress<(long Units, double Fraction)>
    {
        private int _tenth;

        public void Report((long Units, double Fraction) value)
        {
            int tenth = (int)(value.Fraction * 10);
            if (tenth > _tenth)
            {
                _tenth = tenth;
                steps.Report(new ProvisionStep(tenth, 10, $"{value.Units:N0} units"));
            }
        }
    }
}
