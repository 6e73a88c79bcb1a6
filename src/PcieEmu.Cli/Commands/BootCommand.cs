using System.CommandLine;
using System.Diagnostics;
using PcieEmu.Devices;
using PcieEmu.Devices.Models;
using PcieEmu.Harness;
using PcieEmu.Harness.Qemu;

namespace PcieEmu.Cli.Commands;

/// <summary>
/// `pcieemu boot [--model FILE]... [--exec CMD]... [--share DIR] [--timeout S] [--viommu]`: serve the cards, boot the
/// guest with the driver loaded, run the commands (or give an interactive console), tear everything down.
/// </summary>
internal static class BootCommand
{
    public static Command Create()
    {
        var models = new Option<FileInfo[]>("--model") { Description = "Card model file; repeat for several cards (default: the default audio card)", AllowMultipleArgumentsPerToken = false };
        var exec = new Option<string[]>("--exec") { Description = "Shell command line to run in the guest; repeatable. Without it: interactive console. @unplug [N], @plug [N] and @surprise [N] act on card N's slot instead (hot-unplug, hot-plug, the card vanishing)" };
        var share = new Option<DirectoryInfo?>("--share") { Description = "Host folder mounted at /mnt/host in the guest (commands run there)" };
        var timeout = new Option<int>("--timeout") { Description = "Seconds for the whole session (boot and commands)", DefaultValueFactory = _ => 600 };
        var accel = new Option<AcceleratorChoice>("--accel") { Description = "Auto (KVM only with kvm_intel/kvm_amd loaded), Tcg or Kvm", DefaultValueFactory = _ => AcceleratorChoice.Auto };
        var noDriver = new Option<bool>("--no-driver") { Description = "Do not load the project's driver at boot" };
        var unshared = new Option<bool>("--unshared-ram") { Description = "Guest RAM without an fd: all device DMA goes through DMA_READ/DMA_WRITE messages" };
        var viommu = new Option<bool>("--viommu") { Description = "Put the card(s) behind an emulated Intel IOMMU, guest DMA remapping on in strict mode: one DMA_MAP per buffer the driver maps" };
        var routes = new Option<string[]>("--route") { Description = "STREAM=ROUTE for every card, repeatable (see serve --help)" };
        var keep = new Option<bool>("--keep-logs") { Description = "Keep the work directory (logs, sockets) even on success" };
        var trace = new Option<DirectoryInfo?>("--trace") { Description = "Record each card's session into DIR/card<i>.petrace (for pcieemu replay; needs shared guest RAM)" };
        var failOnViolation = new Option<bool>("--fail-on-violation") { Description = "Exit with status 3 when the driver broke any rule of a card (use it in CI); the reports are printed either way" };
        var checker = new CheckerOptions();
        var command = new Command("boot", "Boot a QEMU guest with the card(s) and run commands in it") { models, exec, share, timeout, accel, noDriver, unshared, viommu, routes, keep, trace, failOnViolation };
        foreach (var o in checker.All)
        {
            command.Options.Add(o);
        }

        command.SetAction(async (parse, ct) =>
        {
            using var loggers = CliLogging.Create(parse, Microsoft.Extensions.Logging.LogLevel.Warning);
            string[] commands = parse.GetValue(exec) ?? [];
            var modelPaths = (parse.GetValue(models) ?? []).Select(f => f.FullName).ToList();
            if (modelPaths.Count == 0)
            {
                modelPaths.Add(DataFiles.DefaultModelPath);
            }

            if (GuestStart.LoadModels("boot", modelPaths) is not { } cardModels)
            {
                return 2; // fail fast, before provisioning and QEMU
            }

            if (checker.Policy(parse, "boot", cardModels) is not { } policy)
            {
                return 2;
            }

            if (!checker.TryOpen(parse, "boot", out var probe))
            {
                return 2; // an unwritable --violations-json fails now, not after the boot
            }

            probe?.Dispose();

            IReadOnlyDictionary<string, string> routeTable;
            try
            {
                routeTable = CardOptions.ParseRoutes(parse.GetValue(routes) ?? []);
            }
            catch (CardModelException e)
            {
                Console.Error.WriteLine($"boot: {e.Message}");
                return 2;
            }

            var actions = new Dictionary<int, SlotAction>();
            for (int i = 0; i < commands.Length; i++)
            {
                if (SlotAction.IsAction(commands[i]))
                {
                    if (SlotAction.Parse(commands[i], modelPaths.Count, out string? why) is not { } action)
                    {
                        Console.Error.WriteLine($"boot: {why}");
                        return 2;
                    }

                    actions[i] = action;
                }
            }

            if (parse.GetValue(trace) is not null && parse.GetValue(unshared))
            {
                Console.Error.WriteLine("boot: --trace needs shared guest RAM (a traced card cannot wait on message DMA); drop --unshared-ram");
                return 2;
            }

            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(parse.GetValue(timeout)));
            var options = new GuestSessionOptions
            {
                ModelPaths = modelPaths,
                ShareDirectory = parse.GetValue(share)?.FullName,
                LoadDrivers = !parse.GetValue(noDriver),
                SharedMemory = !parse.GetValue(unshared),
                Viommu = parse.GetValue(viommu),
                Accelerator = parse.GetValue(accel),
                Console = commands.Length == 0 ? ConsoleMode.Terminal : ConsoleMode.File,
                KeepWorkDirectory = parse.GetValue(keep),
                Routes = routeTable,
                TraceDirectory = parse.GetValue(trace)?.FullName,
                HotPlug = actions.Values.Any(a => a.NeedsHotPlug),
                CheckerPolicy = policy,
                ViolationLogPath = probe?.Path,
            };

            if (await GuestStart.StartAsync("boot", options, loggers, deadline.Token) is not { } session)
            {
                return 1;
            }

            int status;
            try
            {
                status = await RunCommandsAsync(session, commands, actions, options, TimeSpan.FromSeconds(parse.GetValue(timeout)), deadline.Token);
            }
            finally
            {
                await session.DisposeAsync(); // before the summary: the driver's shutdown path is checked too
            }

            int violations = ViolationSummary.Print(session.Cards.Select(c => c.Card));
            return status == 0 && violations > 0 && parse.GetValue(failOnViolation) ? 3 : status;
        });
        return command;
    }

    private static async Task<int> RunCommandsAsync(GuestSession session, string[] commands, Dictionary<int, SlotAction> actions,
        GuestSessionOptions options, TimeSpan commandTimeout, CancellationToken deadline)
    {
        if (options.TraceDirectory is { } traces)
        {
            Console.Error.WriteLine($"boot: recording {string.Join(", ", session.Cards.Select(c => GuestSession.TracePath(traces, c.Index)))}");
        }

        if (commands.Length == 0)
        {
            Console.Error.WriteLine($"boot: guest console (cards: {string.Join(", ", session.Cards.Select(c => c.Card.Model.Name))}); 'exit' powers the guest off");
            await session.WaitForExitAsync(deadline);
            return 0;
        }

        int status = 0;
        for (int i = 0; i < commands.Length; i++)
        {
            string c = commands[i];
            var sw = Stopwatch.StartNew();
            try
            {
                if (actions.TryGetValue(i, out var action))
                {
                    await action.RunAsync(session.Slots, deadline);
                    Console.Error.WriteLine($"boot: `{c}` done in {sw.Elapsed.TotalSeconds:F2} s");
                    continue;
                }

                var r = await session.RunAsync(c, commandTimeout, deadline);
                Console.Out.Write(r.Output);
                Console.Out.Flush();
                Console.Error.WriteLine($"boot: `{c}` exited {r.ExitCode} in {sw.Elapsed.TotalSeconds:F2} s");
                if (r.ExitCode != 0 && status == 0)
                {
                    status = r.ExitCode;
                }
            }
            catch (Exception e) when (e is GuestSessionException or OperationCanceledException or InvalidOperationException or Harness.Qemu.QmpException)
            {
                session.MarkFailed();
                Console.Error.WriteLine($"boot: `{c}` failed: {(e is OperationCanceledException ? "session timeout" : e.Message)}");
                Console.Error.WriteLine(session.DescribeLogs());
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
}
