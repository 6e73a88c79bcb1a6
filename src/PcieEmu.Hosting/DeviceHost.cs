using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using PcieEmu.Harness;
using PcieEmu.Harness.Provisioning;
using PcieEmu.Harness.Qemu;
using PcieEmu.Pci.Hosting;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Recording;
using PcieEmu.Tracing.Replay;
using PcieEmu.Tracing.Tools;
using PcieEmu.VfioUser.Server;

namespace PcieEmu.Hosting;

/// <summary>
/// The verbs of `pcieemu` for a device of your own, from a program's Main in one line:
/// <code>return await DeviceHost.RunAsync(args, MyDevice.Type);</code>
/// <list type="bullet">
/// <item><c>serve --socket PATH [--persist] [--trace FILE]</c>: serve the device to QEMU (-device vfio-user-pci).</item>
/// <item><c>boot [--driver DIR]... [--exec CMD]... [--trace DIR]</c>: boot the guest with the device, your driver(s) built and loaded.</item>
/// <item><c>replay FILE</c>: replay a recorded trace against the device in virtual time (exit 1 on divergence).</item>
/// <item><c>trace dump|stats FILE</c>: read a recorded trace.</item>
/// </list>
/// </summary>
public static class DeviceHost
{
    private static readonly Option<LogLevel?> LogLevelOption = new("--log-level")
    {
        Description = "Minimum log level (Trace, Debug, Information, Warning, Error)",
        Recursive = true,
    };

    /// <summary>Parses <paramref name="args"/> and runs the verb; returns the exit code (0 success, 1 failure, 2 bad usage).</summary>
    public static async Task<int> RunAsync(string[] args, PciDeviceType type, CancellationToken cancellationToken = default)
    {
        var root = new RootCommand($"{type.Name}: a PcieEmu device (vfio-user server for QEMU)") { Options = { LogLevelOption } };
        root.Subcommands.Add(Serve(type));
        root.Subcommands.Add(Boot(type));
        root.Subcommands.Add(Replay(type));
        root.Subcommands.Add(Trace());
        var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        try
        {
            return await parse.InvokeAsync(cancellationToken: cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"{type.Name}: {e.Message}");
            return 1;
        }
    }

    private static ILoggerFactory Loggers(ParseResult parse, LogLevel fallback) => LoggerFactory.Create(b => b
        .SetMinimumLevel(parse.GetValue(LogLevelOption) ?? fallback)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        })
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));

    private static Command Serve(PciDeviceType type)
    {
        var socket = new Option<string>("--socket") { Description = "UNIX socket path to listen on", Required = true };
        var persist = new Option<bool>("--persist") { Description = "Accept the next client after one disconnects" };
        var trace = new Option<string?>("--trace") { Description = "Record the session into FILE (replay FILE replays it; needs guest RAM shared with the server)" };
        var command = new Command("serve", $"Serve the device ({type.Name}) to a vfio-user client (QEMU -device vfio-user-pci,socket=PATH)") { socket, persist, trace };
        command.SetAction(parse =>
        {
            using var loggers = Loggers(parse, LogLevel.Information);
            using var device = type.Create(PciDeviceContext.RealTime(loggers));
            TraceWriter? recording = parse.GetValue(trace) is { } path ? TraceRecording.Start(device, type, path) : null;
            using var server = new VfioUserServer(device.Function, parse.GetValue(socket)!, new VfioUserServerOptions { Persist = parse.GetValue(persist) }, loggers);
            using var stop = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
            {
                c.Cancel = true;
                server.Dispose();
            });
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c =>
            {
                c.Cancel = true;
                server.Dispose();
            });
            server.Listen();
            Console.Error.WriteLine($"serve: {type.Name} on {server.SocketPath}");
            server.Run();
            if (recording is not null)
            {
                TraceRecording.Finish(device, recording);
                Console.Error.WriteLine($"serve: trace {recording.Path}: {recording.Records} records");
            }

            return 0;
        });
        return command;
    }

    private static Command Boot(PciDeviceType type)
    {
        var exec = new Option<string[]>("--exec") { Description = "Shell command line to run in the guest; repeatable. Without it: interactive console" };
        var drivers = new Option<string[]>("--driver") { HelpName = "DIR", Description = "Your out-of-tree kernel module source directory (Kbuild or Makefile), repeatable: built against the guest kernel and loaded at boot" };
        var timeout = new Option<int>("--timeout") { Description = "Seconds for the whole session", DefaultValueFactory = _ => 600 };
        var share = new Option<DirectoryInfo?>("--share") { Description = "Host folder mounted at /mnt/host in the guest" };
        var accel = new Option<AcceleratorChoice>("--accel") { Description = "Auto, Tcg or Kvm", DefaultValueFactory = _ => AcceleratorChoice.Auto };
        var trace = new Option<DirectoryInfo?>("--trace") { Description = "Record the device's session into DIR/card0.petrace (for replay)" };
        var keep = new Option<bool>("--keep-logs") { Description = "Keep the work directory (logs, sockets) even on success" };
        var command = new Command("boot", $"Boot a QEMU guest with the device ({type.Name}) and your driver, and run commands in it") { exec, drivers, timeout, share, accel, trace, keep };
        command.SetAction(async (parse, ct) =>
        {
            using var loggers = Loggers(parse, LogLevel.Warning);
            string[] dirs = parse.GetValue(drivers) ?? [];
            foreach (string dir in dirs)
            {
                if (DriverSource.Problem(dir) is { } problem)
                {
                    Console.Error.WriteLine($"boot: --driver {dir}: {problem}");
                    return 2;
                }
            }

            string[] commands = parse.GetValue(exec) ?? [];
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(parse.GetValue(timeout)));
            var options = new GuestSessionOptions
            {
                ModelPaths = [],
                Devices = [type],
                LoadDrivers = false,
                Drivers = dirs,
                ShareDirectory = parse.GetValue(share)?.FullName,
                Accelerator = parse.GetValue(accel),
                Console = commands.Length == 0 ? ConsoleMode.Terminal : ConsoleMode.File,
                TraceDirectory = parse.GetValue(trace)?.FullName,
                KeepWorkDirectory = parse.GetValue(keep),
            };
            GuestSession session;
            try
            {
                Console.Error.WriteLine("boot: provisioning (first run: minutes), building drivers, booting the guest");
                session = await GuestSession.StartAsync(options, loggers, progress: null, messages: new Progress<string>(m => Console.Error.WriteLine($"boot: {m}")), deadline.Token);
            }
            catch (Exception e) when (e is GuestSessionException or ProvisioningException or OperationCanceledException)
            {
                Console.Error.WriteLine($"boot: {(e is OperationCanceledException ? "timed out or interrupted while starting" : e.Message)}");
                return 1;
            }

            await using (session)
            {
                foreach (string failure in session.DriverLoadFailures())
                {
                    Console.Error.WriteLine($"boot: warning: the guest did not load driver {failure}");
                }

                if (options.TraceDirectory is { } traces)
                {
                    Console.Error.WriteLine($"boot: recording {GuestSession.TracePath(traces, 0)}");
                }

                if (commands.Length == 0)
                {
                    Console.Error.WriteLine("boot: guest console; 'exit' powers the guest off");
                    await session.WaitForExitAsync(deadline.Token);
                    return 0;
                }

                int status = 0;
                foreach (string c in commands)
                {
                    var sw = Stopwatch.StartNew();
                    try
                    {
                        var r = await session.RunAsync(c, TimeSpan.FromSeconds(parse.GetValue(timeout)), deadline.Token);
                        Console.Out.Write(r.Output);
                        Console.Out.Flush();
                        Console.Error.WriteLine($"boot: `{c}` exited {r.ExitCode} in {sw.Elapsed.TotalSeconds:F2} s");
                        status = status == 0 ? r.ExitCode : status;
                    }
                    catch (Exception e) when (e is GuestSessionException or OperationCanceledException)
                    {
                        session.MarkFailed();
                        Console.Error.WriteLine($"boot: `{c}` failed: {(e is OperationCanceledException ? "session timeout" : e.Message)}");
                        return 1;
                    }
                }

                if (status != 0)
                {
                    session.MarkFailed();
                    Console.Error.WriteLine(session.DescribeLogs());
                }

                return status;
            }
        });
        return command;
    }

    private static Command Replay(PciDeviceType type)
    {
        var file = new Argument<FileInfo>("trace") { Description = "Trace recorded with serve --trace or boot --trace" };
        var truncated = new Option<bool>("--allow-truncated") { Description = "Replay a trace whose recorder was killed up to its last whole unit" };
        var command = new Command("replay", $"Replay a trace against a new device ({type.Name}) in virtual time; exit 0 when it behaves exactly as recorded") { file, truncated };
        command.SetAction(parse =>
        {
            using var loggers = Loggers(parse, LogLevel.Warning);
            ReplayResult result;
            try
            {
                result = TraceReplayer.Replay(parse.GetValue(file)!.FullName, new ReplayOptions { AllowTruncated = parse.GetValue(truncated) }, type, loggers);
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

    private static Command Trace()
    {
        var dumpFile = new Argument<FileInfo>("file") { Description = "Trace file" };
        var dump = new Command("dump", "Print a trace, one line per record") { dumpFile };
        dump.SetAction(parse => Read("trace dump", parse.GetValue(dumpFile)!, reader => TraceDump.WriteText(reader, Console.Out)));
        var statsFile = new Argument<FileInfo>("file") { Description = "Trace file" };
        var stats = new Command("stats", "Summarise a trace: counts, DMA bandwidth, interrupt rates") { statsFile };
        stats.SetAction(parse => Read("trace stats", parse.GetValue(statsFile)!, reader =>
            TraceStatsReport.WriteText(TraceStatistics.Compute(reader, parse.GetValue(statsFile)!.Length), Console.Out)));
        return new Command("trace", "Inspect recorded traces") { dump, stats };
    }

    private static int Read(string verb, FileInfo file, Action<TraceReader> action)
    {
        try
        {
            using var reader = TraceReader.Open(file.FullName);
            action(reader);
            Console.Out.Flush();
            return 0;
        }
        catch (Exception e) when (e is TraceFormatException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"{verb}: {e.Message}");
            return 2;
        }
    }
}
