using System.CommandLine;
using PcieEmu.Cli;
using PcieEmu.Cli.Commands;

var root = new RootCommand("PcieEmu: out-of-process PCI Express device emulator (vfio-user server for QEMU)");
root.Options.Add(CliLogging.LevelOption);
root.Subcommands.Add(SetupCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(BootCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(ValidateCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(ReplayCommand.Create());
root.Subcommands.Add(TraceCommand.Create());
// No response files: `boot --exec "@unplug 0"` is a slot action, not a file of arguments (SlotAction).
var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
try
{
    // System.CommandLine's own handler would print the stack trace; ours prints one line (see LastResort).
    return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    return LastResort.Report(parse, e);
}
