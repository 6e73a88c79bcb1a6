using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using PcieEmu.Devices;
using PcieEmu.Harness.Checking;
using PcieEmu.Pci.Checking;
using PcieEmu.Harness.Guest;
using PcieEmu.Harness.Logging;
using PcieEmu.Harness.Processes;
using PcieEmu.Harness.Provisioning;
using PcieEmu.Harness.Qemu;
using PcieEmu.Tracing.Recording;
using PcieEmu.VfioUser.Server;

namespace PcieEmu.Harness;

/// <summary>
/// A booted guest with our cards: servers in this process (so tests can look at what each device saw),
/// QEMU as a child, the command agent and QMP. Every child is torn down on every path; when anything fails
/// the exception names the QEMU, server and console logs, which are kept.
/// </summary>
public sealed partial class GuestSession : IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly List<CardInstance> _cards;
    private readonly Process _qemu;
    private readonly Socket _agentListener;
    private readonly GuestSessionOptions _options;
    private readonly List<ILoggerFactory> _ownedLoggers;
    private ViolationLogFile? _violationLog;
    private GuestAgent? _agent;
    private CardSlots? _slots;
    private bool _failed;
    private bool _disposed;

    private GuestSession(GuestSessionOptions options, GuestArtifacts artifacts, string workDirectory, string shareDirectory,
        List<CardInstance> cards, Process qemu, Socket agentListener, List<ILoggerFactory> ownedLoggers, ILogger logger)
    {
        _options = options;
        Artifacts = artifacts;
        WorkDirectory = workDirectory;
        ShareDirectory = shareDirectory;
        _cards = cards;
        _qemu = qemu;
        _agentListener = agentListener;
        _ownedLoggers = ownedLoggers;
        _logger = logger;
    }

    public GuestArtifacts Artifacts { get; }

    public string WorkDirectory { get; }

    /// <summary>The host side of the guest's /mnt/host.</summary>
    public string ShareDirectory { get; }

    public IReadOnlyList<CardInstance> Cards => _cards;

    public GuestAgent Agent => _agent ?? throw new InvalidOperationException("the guest agent is not connected (interactive session?)");

    public QmpClient? Qmp { get; private set; }

    /// <summary>The cards' PCIe slots: hot-unplug, hot-plug and surprise removal (needs <see cref="GuestSessionOptions.HotPlug"/>).</summary>
    public CardSlots Slots => _slots ??= new CardSlots(this, _options, _cards, _logger);

    internal GuestSessionOptions Options => _options;

    public string QemuLog => Path.Combine(WorkDirectory, "qemu.log");

    public string ConsoleLog => Path.Combine(WorkDirectory, "console.log");

    public bool QemuExited => _qemu.HasExited;

    /// <summary>Provisions on demand, starts the card servers and QEMU, and (for batch sessions) waits for the agent.</summary>
    public static async Task<GuestSession> StartAsync(GuestSessionOptions options, ILoggerFactory loggers,
        IProgress<ProvisionStep>? progress = null, CancellationToken cancellationToken = default)
    {
        var logger = loggers.CreateLogger("PcieEmu.Harness.GuestSession");
        int steps = 0;
        var counting = progress is null ? null : new StepCounter(progress, n => steps = n);
        var artifacts = await Provisioner.EnsureAsync(counting, cancellationToken: cancellationToken, hotplugQemu: options.HotPlug);
        string qemuBinary = !options.HotPlug ? artifacts.Qemu
            : artifacts.QemuHotplug ?? throw new GuestSessionException("hot-plug needs the qemu-hotplug stage, which provisioning did not report (manifest key qemu_hotplug)");
        progress?.Report(new ProvisionStep(steps + 1, steps + 1, "starting the card server(s) and QEMU, waiting for the guest"));
        string work = options.WorkDirectory ?? Directory.CreateTempSubdirectory("pcieemu-").FullName;
        Directory.CreateDirectory(work);
        string share = options.ShareDirectory ?? Path.Combine(work, "share");
        Directory.CreateDirectory(share);

        if (options.TraceDirectory is not null && !options.SharedMemory)
        {
            throw new ArgumentException("recording traces needs guest RAM shared with the server (SharedMemory): a traced card cannot wait on message DMA", nameof(options));
        }

        var cards = new List<CardInstance>();
        var owned = new List<ILoggerFactory>();
        Socket? agentListener = null;
        GuestSession? session = null;
        ViolationLogFile? violationLog = null;
        try
        {
            violationLog = options.ViolationLogPath is { } violationPath ? new ViolationLogFile(violationPath) : null;
            for (int i = 0; i < options.ModelPaths.Count; i++)
            {
                string log = Path.Combine(work, $"server-{i}.log");
                var cardLoggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new FileLoggerProvider(log)));
                owned.Add(cardLoggers);
                var card = CardFactory.Load(options.ModelPaths[i], cardLoggers, new CardOptions { Routes = options.Routes, KeepSampleBytes = options.KeepSampleBytes });
                card.Checker.Policy = options.CheckerPolicy;
                ViolationLogging.Attach(card.Checker, cardLoggers.CreateLogger("PcieEmu.Checker"));
                violationLog?.Attach(card.Checker);
                var trace = options.TraceDirectory is { } traces
                    ? TraceRecording.Start(card, options.ModelPaths[i], options.Routes, TracePath(traces, i))
                    : null;
                // A hot-pluggable card's server outlives its client: the next device_add connects again.
                var serverOptions = options.HotPlug ? options.ServerOptions with { Persist = true } : options.ServerOptions;
                var server = new VfioUserServer(card.Function, Path.Combine(work, $"vu{i}.sock"), serverOptions, cardLoggers);
                server.Listen();
                cards.Add(new CardInstance(i, card, server, log, server.RunAsync(), trace));
            }

            agentListener = GuestAgent.Listen(Path.Combine(work, "agent.sock"));
            var machine = new QemuMachine
            {
                Accelerator = Accelerator.Resolve(options.Accelerator),
                Kernel = artifacts.Kernel,
                Initrd = artifacts.Initrd,
                KernelCommandLine = KernelCommandLine(options, artifacts),
                MemoryMiB = options.MemoryMiB,
                SharedMemory = options.SharedMemory,
                Viommu = options.Viommu,
                Console = options.Console,
                ConsoleLog = Path.Combine(work, "console.log"),
                AgentSocket = Path.Combine(work, "agent.sock"),
                AgentPortName = artifacts.AgentPort,
                ShareDirectory = share,
                ShareTag = artifacts.ShareTag,
                QmpSocket = Path.Combine(work, "qmp.sock"),
                VfioUserSockets = [.. cards.Select(c => c.Server.SocketPath)],
                ExtraArguments = options.ExtraQemuArguments,
            };
            var args = QemuCommandLine.Build(machine);
            File.WriteAllText(Path.Combine(work, "qemu.cmdline"), qemuBinary + " " + string.Join(" ", args.Select(Quote)) + "\n");
            var qemu = StartQemu(qemuBinary, args, Path.Combine(work, "qemu.log"), options.Console);
            LogStarted(logger, qemu.Id, machine.Accelerator, cards.Count, work);
            session = new GuestSession(options, artifacts, work, share, cards, qemu, agentListener, owned, logger) { _violationLog = violationLog };
            if (options.Console == ConsoleMode.File)
            {
                await session.ConnectAsync(cancellationToken);
            }

            return session;
        }
        catch (Exception e)
        {
            // Nothing half-started survives a failed start: kill what exists, keep the logs for the report. Once a
            // session exists it owns QEMU, the listener, the cards and the loggers, and may have torn them down
            // already; disposing them again here ended a timed-out boot in an ObjectDisposedException.
            if (session is not null)
            {
                session.MarkFailed();
                await session.DisposeAsync();
            }
            else
            {
                agentListener?.Dispose();
                foreach (var c in cards)
                {
                    c.Dispose();
                }

                owned.ForEach(f => f.Dispose());
                violationLog?.Dispose();
            }

            if (e is GuestSessionException || (e is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                throw; // a deadline or a stop stays a cancellation, which callers report as such
            }

            throw new GuestSessionException($"starting the guest failed: {e.Message}\n{DescribeLogs(work, cards.Count)}", e);
        }
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var exited = _qemu.WaitForExitAsync(cancellationToken);
        var accept = GuestAgent.AcceptAsync(_agentListener, _options.BootTimeout, cancellationToken);
        var first = await Task.WhenAny(accept, exited);

        // A deadline or a stop completes both tasks: that is a cancellation (StartAsync tears the session down), not
        // QEMU exiting, whose exit code does not exist yet.
        cancellationToken.ThrowIfCancellationRequested();
        if (first == exited || _qemu.HasExited)
        {
            _failed = true;
            int code = _qemu.ExitCode; // read before DisposeAsync releases the process
            await DisposeAsync();
            throw new GuestSessionException($"QEMU exited (code {code}) before the guest was ready\n{DescribeLogs()}");
        }

        try
        {
            _agent = await accept;
            Qmp = await QmpClient.ConnectAsync(Path.Combine(WorkDirectory, "qmp.sock"), TimeSpan.FromSeconds(10), cancellationToken);
        }
        catch (Exception e) when (e is GuestException or QmpException or SocketException)
        {
            _failed = true;
            await DisposeAsync();
            throw new GuestSessionException($"the guest did not come up: {e.Message}\n{DescribeLogs()}", e);
        }

        LogReady(_logger, _agent.ReadyLine);
    }

    /// <summary>Runs a shell command line in the guest.</summary>
    public async Task<GuestCommandResult> RunAsync(string script, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        try
        {
            return await Agent.RunAsync(script, timeout ?? _options.CommandTimeout, cancellationToken);
        }
        catch (GuestException e)
        {
            _failed = true;
            throw new GuestSessionException($"{e.Message}\n{DescribeLogs()}", e);
        }
    }

    /// <summary>Runs a command and fails (with the logs) unless it exits 0; returns its output.</summary>
    public async Task<string> RunCheckedAsync(string script, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var r = await RunAsync(script, timeout, cancellationToken);
        if (r.ExitCode != 0)
        {
            _failed = true;
            throw new GuestSessionException($"guest command failed with exit code {r.ExitCode}: {script}\n--- output ---\n{r.Output}\n{DescribeLogs()}");
        }

        return r.Output;
    }

    /// <summary>Interactive sessions: wait until the user powers the guest off.</summary>
    public Task WaitForExitAsync(CancellationToken cancellationToken = default) => _qemu.WaitForExitAsync(cancellationToken);

    /// <summary>Marks the session failed so its work directory is kept.</summary>
    public void MarkFailed() => _failed = true;

    /// <summary>Paths and tails of the QEMU, server and console logs, for failure messages.</summary>
    public string DescribeLogs(int tailLines = 40) => DescribeLogs(WorkDirectory, _cards.Count, tailLines);

    private static string DescribeLogs(string work, int cards, int tailLines = 40)
    {
        var sb = new StringBuilder();
        sb.Append("logs kept in ").Append(work).Append('\n');
        var files = new List<string> { "qemu.log", "console.log" };
        files.AddRange(Enumerable.Range(0, cards).Select(i => $"server-{i}.log"));
        foreach (var name in files)
        {
            string path = Path.Combine(work, name);
            sb.Append("--- ").Append(path);
            if (!File.Exists(path))
            {
                sb.Append(" (missing)\n");
                continue;
            }

            string[] lines = ReadShared(path).Split('\n');
            sb.Append(lines.Length > tailLines ? $" (last {tailLines} lines)" : "").Append(" ---\n");
            foreach (var l in lines.TakeLast(tailLines))
            {
                sb.Append("  ").Append(l).Append('\n');
            }
        }

        return sb.ToString();
    }

    private static string ReadShared(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    private static string KernelCommandLine(GuestSessionOptions options, GuestArtifacts artifacts)
    {
        var parts = new List<string> { "console=ttyS0", "panic=-1", "quiet", "pcieemu.share=1" };
        parts.Add(options.Console == ConsoleMode.Terminal ? "pcieemu.mode=shell" : "pcieemu.mode=runner");
        if (options.LoadDrivers && artifacts.Drivers.Count > 0)
        {
            parts.Add("pcieemu.drivers=" + string.Join(",", artifacts.Drivers));
        }

        if (options.Modules.Count > 0)
        {
            parts.Add("pcieemu.mods=" + string.Join(",", options.Modules));
        }

        if (options.Viommu)
        {
            parts.AddRange(GuestSessionOptions.ViommuKernelArguments);
        }

        parts.AddRange(options.ExtraKernelArguments);
        return string.Join(" ", parts);
    }

    private static Process StartQemu(string qemu, IReadOnlyList<string> args, string log, ConsoleMode console)
    {
        var psi = new ProcessStartInfo(qemu) { UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (console == ConsoleMode.Terminal)
        {
            return ChildProcessLauncher.Start(psi); // the terminal is the console; stderr stays visible
        }

        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = true;
        var p = ChildProcessLauncher.Start(psi);
        var writer = new StreamWriter(new FileStream(log, FileMode.Create, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var sync = new object();
        void Append(string? line)
        {
            if (line is not null)
            {
                lock (sync)
                {
                    writer.WriteLine(line);
                }
            }
        }

        p.OutputDataReceived += (_, e) => Append(e.Data);
        p.ErrorDataReceived += (_, e) => Append(e.Data);
        p.Exited += (_, _) =>
        {
            lock (sync)
            {
                writer.WriteLine($"[pcieemu] QEMU exited with code {SafeExitCode(p)}");
            }
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static string SafeExitCode(Process p)
    {
        try
        {
            return p.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (InvalidOperationException)
        {
            return "?";
        }
    }

    /// <summary>Where card <paramref name="index"/>'s trace goes in a session with a trace directory.</summary>
    public static string TracePath(string directory, int index)
    {
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, $"card{index}{TraceRecording.Extension}");
    }

    private static string Quote(string s) => s.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'' or '{' or '}') ? $"'{s.Replace("'", "'\\''", StringComparison.Ordinal)}'" : s;

    /// <summary>Every driver-rule violation the session's cards recorded so far (warnings left out).</summary>
    public IReadOnlyList<RuleViolation> Violations() => ViolationAssertions.Violations(_cards.Select(c => c.Card));

    /// <summary>
    /// Throws <see cref="DriverViolationException"/> (the first report as its message) when a card saw a violation
    /// of a rule outside <paramref name="expectedRules"/>. Call it after <see cref="DisposeAsync"/> to cover the
    /// driver's shutdown path too; the cards keep their reports after the session ends.
    /// </summary>
    public void AssertNoViolations(params string[] expectedRules) =>
        ViolationAssertions.AssertNone(_cards.Select(c => c.Card), expectedRules.ToHashSet(StringComparer.Ordinal));

    /// <summary>Powers the guest off (agent quit, then QMP quit, then kill), stops the servers, keeps logs on failure.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_qemu.HasExited)
        {
            if (_agent is not null)
            {
                await _agent.QuitAsync();
            }

            if (_agent is not null && !await WaitExit(TimeSpan.FromSeconds(10)) && Qmp is not null)
            {
                try
                {
                    await Qmp.ExecuteAsync("quit", timeout: TimeSpan.FromSeconds(5));
                }
                catch (Exception e) when (e is QmpException or IOException or SocketException or ObjectDisposedException)
                {
                }
            }

            // Without an agent or QMP (a start cancelled while the guest booted) nothing asked QEMU to quit: kill it now.
            if (_agent is null && Qmp is null || !await WaitExit(TimeSpan.FromSeconds(5)))
            {
                LogKilled(_logger, _qemu.Id);
                ChildProcessLauncher.Kill(_qemu);
                await WaitExit(TimeSpan.FromSeconds(5));
            }
        }

        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        if (Qmp is not null)
        {
            await Qmp.DisposeAsync();
        }

        _agentListener.Dispose();
        foreach (var c in _cards)
        {
            c.Dispose();
        }

        _ownedLoggers.ForEach(f => f.Dispose());
        _violationLog?.Dispose();
        _qemu.Dispose();
        if (!_failed && !_options.KeepWorkDirectory && _options.WorkDirectory is null)
        {
            try
            {
                Directory.Delete(WorkDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private async Task<bool> WaitExit(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _qemu.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "QEMU pid {Pid} started ({Accel}, {Cards} card(s)); work directory {Work}")]
    private static partial void LogStarted(ILogger logger, int pid, string accel, int cards, string work);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Guest ready: {Ready}")]
    private static partial void LogReady(ILogger logger, string ready);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "QEMU pid {Pid} did not power off; killed")]
    private static partial void LogKilled(ILogger logger, int pid);
}

/// <summary>Passes provisioning steps through and remembers how many there were.</summary>
internal sealed class StepCounter(IProgress<ProvisionStep> inner, Action<int> count) : IProgress<ProvisionStep>
{
    public void Report(ProvisionStep value)
    {
        count(value.Count);
        inner.Report(value with { Count = value.Count + 1 });
    }
}

public sealed class GuestSessionException(string message, Exception? inner = null) : Exception(message, inner);
