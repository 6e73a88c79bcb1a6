using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PcieEmu.Devices;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Checking;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Recording;
using PcieEmu.VfioUser.Server;

namespace PcieEmu.Cli.Commands;

/// <summary>`pcieemu serve --model FILE --socket PATH [--persist]`: serve one card over vfio-user.</summary>
internal static partial class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<FileInfo?>("--model") { Description = "Card model file (default: the default audio card, firmware-models/pcieemu-audio/default.json beside the binary)" };
        var socket = new Option<string>("--socket") { Description = "UNIX socket path to listen on", Required = true };
        var persist = new Option<bool>("--persist") { Description = "Accept the next client after one disconnects" };
        var logFile = new Option<string?>("--log-file") { Description = "Also append the log to this file" };
        var routes = new Option<string[]>("--route") { Description = "STREAM=ROUTE, repeatable: where a playback stream's samples go (memory, wav:PATH, loopback, null) or a capture stream's come from (tone:F[@A],…, loopback:STREAM, wav:PATH, silence)" };
        var noMessageDma = new Option<bool>("--no-message-dma") { Description = "Do not serve DMA to fd-less mappings through DMA_READ/DMA_WRITE messages" };
        var noBatching = new Option<bool>("--no-io-uring") { Description = "Send each reply and receive each request with its own system call instead of one io_uring_enter for both" };
        var trace = new Option<string?>("--trace") { Description = "Record the card's session into FILE (pcieemu replay FILE replays it; needs guest RAM shared with the server)" };
        var checker = new CheckerOptions();
        var command = new Command("serve", "Serve one card to a vfio-user client (QEMU -device vfio-user-pci)") { model, socket, persist, logFile, routes, noMessageDma, trace, noBatching };
        foreach (var o in checker.All)
        {
            command.Options.Add(o);
        }

        command.SetAction(parse =>
        {
            using var loggers = CliLogging.Create(parse, file: parse.GetValue(logFile));
            var logger = loggers.CreateLogger("PcieEmu.Cli.Serve");
            IEmulatedCard card;
            TraceWriter? recording = null;
            string modelPath = parse.GetValue(model)?.FullName ?? DataFiles.DefaultModelPath;
            try
            {
                var routeTable = CardOptions.ParseRoutes(parse.GetValue(routes) ?? []);
                card = CardFactory.Load(modelPath, loggers, new CardOptions { Routes = routeTable });
                if (parse.GetValue(trace) is { } tracePath)
                {
                    try
                    {
                        recording = TraceRecording.Start(card, modelPath, routeTable, tracePath);
                    }
                    catch
                    {
                        card.Dispose();
                        throw;
                    }
                }
            }
            catch (Exception e) when (e is CardModelException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"serve: {e.Message}");
                return 2;
            }

            var known = card.Rules.Concat(FunctionRules.All).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
            if (checker.Policy(parse, "serve", known) is not { } policy || !checker.TryOpen(parse, "serve", out var violationLog))
            {
                recording?.Dispose();
                card.Dispose();
                return 2;
            }

            card.Checker.Policy = policy;
            using var logging = ViolationLogging.Attach(card.Checker, loggers.CreateLogger("PcieEmu.Checker"));
            violationLog?.Attach(card.Checker);
            using (violationLog)
            using (card)
            {
                var options = new VfioUserServerOptions
                {
                    Persist = parse.GetValue(persist),
                    MessageDma = !parse.GetValue(noMessageDma),
                    BatchReplyWithReceive = !parse.GetValue(noBatching),
                };
                using var server = new VfioUserServer(card.Function, parse.GetValue(socket)!, options, loggers);
                using var stop = StopSignals.OnStop(server.Dispose); // before Listen: from here on a signal means "stop", never 143
                try
                {
                    server.Listen();
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"serve: cannot listen on {server.SocketPath}: {e.Message}");
                    return 2;
                }

                LogReady(logger, card.Model.Name, server.SocketPath, (DateTime.Now - Process.GetCurrentProcess().StartTime).TotalMilliseconds);
                server.Run();
                LogStopped(logger, server.SessionCount, card.Checker.Count, card.Checker.Warnings, card.Checker.HostProblemCount);
                if (recording is not null)
                {
                    try
                    {
                        TraceRecording.Finish(card, recording);
                        LogTraceWritten(logger, recording.Path!, recording.Records, recording.Bytes);
                    }
                    catch (IOException e)
                    {
                        Console.Error.WriteLine($"serve: {e.Message}");
                        return 1;
                    }
                }

                return 0;
            }
        });
        return command;
    }

    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "Serving {Card} on {Socket}: ready {Milliseconds:F0} ms after process start")]
    private static partial void LogReady(ILogger logger, string card, string socket, double milliseconds);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Trace {Path}: {Records} records, {Bytes} bytes")]
    private static partial void LogTraceWritten(ILogger logger, string path, long records, long bytes);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Server stopped after {Sessions} session(s); driver-rule violations: {Violations}, warnings: {Warnings}, host problems: {HostProblems}")]
    private static partial void LogStopped(ILogger logger, int sessions, long violations, long warnings, long hostProblems);
}
