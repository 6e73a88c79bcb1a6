using System.CommandLine;
using System.Text;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Tools;

namespace PcieEmu.Cli.Commands;

/// <summary>`pcieemu trace dump|stats|export FILE`: read a recorded trace (src/PcieEmu.Tracing/Tools).</summary>
internal static class TraceCommand
{
    /// <summary>EPIPE: the reader of our standard output went away (`trace dump | head`); not an error.</summary>
    private const int BrokenPipe = 32;

    public static Command Create()
    {
        var trace = new Command("trace", "Inspect recorded device traces");
        trace.Subcommands.Add(Dump());
        trace.Subcommands.Add(Stats());
        trace.Subcommands.Add(Export());
        return trace;
    }

    private static Command Dump()
    {
        var file = TraceFile();
        var json = new Option<bool>("--json") { Description = "JSON lines: the header object, then one object per record" };
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write here instead of standard output" };
        var from = new Option<long>("--from") { Description = "Index of the first record to show" };
        var count = new Option<long?>("--count") { Description = "Show at most this many records" };
        var kinds = new Option<string[]>("--kind") { Description = "Show only records of this kind (BarWrite, DmaRead, …); repeatable" };
        var command = new Command("dump", "Print a trace, one line per record") { file, json, output, from, count, kinds };
        command.SetAction(parse =>
        {
            var selected = new HashSet<TraceEventKind>();
            foreach (string k in parse.GetValue(kinds) ?? [])
            {
                if (!Enum.TryParse(k, ignoreCase: true, out TraceEventKind kind) || !Enum.IsDefined(kind) || kind == TraceEventKind.End)
                {
                    Console.Error.WriteLine($"trace dump: unknown record kind '{k}'");
                    return 2;
                }

                selected.Add(kind);
            }

            var filter = new TraceDumpFilter { From = parse.GetValue(from), Count = parse.GetValue(count), Kinds = selected.Count == 0 ? null : selected };
            return Run("trace dump", parse.GetValue(file)!, parse.GetValue(output), (reader, stream) =>
            {
                using var text = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16);
                _ = parse.GetValue(json) ? TraceDump.WriteJson(reader, text, filter) : TraceDump.WriteText(reader, text, filter);
            });
        });
        return command;
    }

    private static Command Stats()
    {
        var file = TraceFile();
        var json = new Option<bool>("--json") { Description = "One JSON object instead of tables" };
        var command = new Command("stats", "Summarise a trace: counts, DMA bandwidth, interrupt rates, per-stream figures") { file, json };
        command.SetAction(parse => Run("trace stats", parse.GetValue(file)!, null, (reader, stream) =>
        {
            var stats = TraceStatistics.Compute(reader, new FileInfo(parse.GetValue(file)!.FullName).Length);
            if (parse.GetValue(json))
            {
                TraceStatsReport.WriteJson(stats, stream);
                stream.Write("\n"u8);
            }
            else
            {
                using var text = new StreamWriter(stream, new UTF8Encoding(false));
                TraceStatsReport.WriteText(stats, text);
            }
        }));
        return command;
    }

    private static Command Export()
    {
        var file = TraceFile();
        var format = new Option<string>("--format") { Description = "Output format", DefaultValueFactory = _ => "chrome" };
        format.AcceptOnlyFromAmong("chrome");
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Output file (default: FILE with the extension .json)" };
        var command = new Command("export", "Export a trace for a timeline viewer (chrome: ui.perfetto.dev, chrome://tracing)") { file, format, output };
        command.SetAction(parse =>
        {
            var input = parse.GetValue(file)!;
            string target = parse.GetValue(output)?.FullName ?? DefaultExportPath(input.FullName);
            long events = 0;
            int code = Run("trace export", input, new FileInfo(target), (reader, stream) => events = ChromeTraceExport.Write(reader, stream));
            if (code == 0)
            {
                Console.Error.WriteLine($"trace export: {events} events to {target}");
            }

            return code;
        });
        return command;
    }

    private static Argument<FileInfo> TraceFile() => new("file") { Description = "Trace file written by a recording" };

    private static string DefaultExportPath(string input)
    {
        string path = Path.ChangeExtension(input, ".json");
        return path == input ? input + ".chrome.json" : path;
    }

    /// <summary>
    /// Opens the trace and runs <paramref name="write"/> into the output. A bad trace is one line on stderr and exit
    /// code 2; a file output is written aside and moved into place only when complete, so it is never half a trace.
    /// </summary>
    private static int Run(string verb, FileInfo input, FileInfo? output, Action<TraceReader, Stream> write)
    {
        string? partial = output is null ? null : output.FullName + ".partial";
        try
        {
            using var reader = TraceReader.Open(input.FullName);
            if (partial is null)
            {
                using var stdout = Console.OpenStandardOutput();
                write(reader, stdout);
                return 0;
            }

            using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(reader, stream);
            }

            File.Move(partial, output!.FullName, overwrite: true);
            return 0;
        }
        catch (TraceFormatException e)
        {
            Console.Error.WriteLine($"{verb}: {e.Message}");
            return 2;
        }
        catch (IOException e) when (partial is null && e.HResult == BrokenPipe)
        {
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"{verb}: {e.Message}");
            return 2;
        }
        finally
        {
            if (partial is not null && File.Exists(partial))
            {
                File.Delete(partial);
            }
        }
    }
}
