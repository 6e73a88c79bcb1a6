using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using PcieEmu.Devices;
using PcieEmu.Harness.Checking;
using PcieEmu.Pci.Checking;
using PcieEmu.Harness.Guest;
using PcieEmu.Harness.Logging;
using PcieEmu.Harness.Provisioning;
using PcieEmu.Harness.Qemu;
using PcieEmu.Pci.Hosting;
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
    private readonly QemuProcess _qemu;
    private readonly SessionDrivers _drivers;
    private readonly SessionLogs _logs;
    private readonly Socket _agentListener;
    private readonly GuestSessionOptions _options;
    private readonly List<ILoggerFactory> _ownedLoggers;
    private ViolationLogFile? _violationLog;
    private GuestAgent? _agent;
    private CardSlots? _slots;
    private bool _failed;
    private bool _disposed;

    private GuestSession(GuestSessionOptions options, GuestArtifacts artifacts, SessionDrivers drivers, string workDirectory,
        string shareDirectory, List<CardInstance> cards, QemuProcess qemu, Socket agentListener, List<ILoggerFactory> ownedLoggers, ILogger logger)
    {
        _options = options;
        Artifacts = artifacts;
        _drivers = drivers;
        _logs = new SessionLogs(workDirectory, cards.Count);
        WorkDirectory = workDirectory;
        ShareDirectory = shareDirectory;
        _cards = cards;
        _qemu = qemu;
        _agentListener = agentListener;
        _ownedLoggers = ownedLoggers;
        _logger = logger;
    }

    /// <summary>What provisioning produced and this session booted: the QEMU binary and its version, kernel, initrd, drivers.</summary>
    public GuestArtifacts Artifacts { get; }

    /// <summary>The user drivers of <see cref="GuestSessionOptions.Drivers"/>, in order: built now or taken from the cache.</summary>
    public IReadOnlyList<UserDriverBuild> DriverBuilds => _drivers.Builds;

    /// <summary>
    /// The session's folder: the card, QMP and agent sockets, the QEMU command line and every log. It is
    /// <see cref="GuestSessionOptions.WorkDirectory"/> when given (never deleted), else a new /tmp/pcieemu-* folder that
    /// <see cref="DisposeAsync"/> deletes after a clean run unless <see cref="GuestSessionOptions.KeepWorkDirectory"/>
    /// is set; after a failure (<see cref="MarkFailed"/>) it is kept.
    /// </summary>
    public string WorkDirectory { get; }

    /// <summary>The host side of the guest's /mnt/host.</summary>
    public string ShareDirectory { get; }

    /// <summary>
    /// The cards, in order: those of <see cref="GuestSessionOptions.ModelPaths"/>, then those of
    /// <see cref="GuestSessionOptions.Devices"/>; a card's index is its position here. Each is served in this process,
    /// so its device state can be read while the guest runs (host-side reads, src/THREADS.md).
    /// </summary>
    public IReadOnlyList<CardInstance> Cards => _cards;

    /// <summary>
    /// The guest command agent; the session owns it. <see cref="RunAsync"/> and <see cref="RunCheckedAsync"/> use it and
    /// add the logs to a failure, so prefer them.
    /// </summary>
    /// <exception cref="InvalidOperationException">An interactive session (<see cref="ConsoleMode.Terminal"/>), which has no agent.</exception>
    public GuestAgent Agent => _agent ?? throw new InvalidOperationException("the guest agent is not connected (interactive session?)");

    /// <summary>
    /// QEMU's monitor (QMP), for commands the guest cannot give itself (device_del, system_reset …); the session owns
    /// it. Null in an interactive session (<see cref="ConsoleMode.Terminal"/>), where it is never connected.
    /// </summary>
    public QmpClient? Qmp { get; private set; }

    /// <summary>The cards' PCIe slots: hot-unplug, hot-plug and surprise removal (needs <see cref="GuestSessionOptions.HotPlug"/>).</summary>
    public CardSlots Slots => _slots ??= new CardSlots(this, _options, _cards, _logger);

    internal GuestSessionOptions Options => _options;

    /// <summary>Path of QEMU's stdout and stderr (<c>qemu.log</c> in <see cref="WorkDirectory"/>), written while QEMU runs.</summary>
    public string QemuLog => _logs.QemuLog;

    /// <summary>
    /// Path of the guest's serial console (<c>console.log</c> in <see cref="WorkDirectory"/>); in an interactive
    /// session the console goes to the terminal instead, and this file stays empty or absent.
    /// </summary>
    public string ConsoleLog => _logs.ConsoleLog;

    /// <summary>QEMU has exited: the guest powered off, crashed or was killed. Any thread.</summary>
    public bool QemuExited => _qemu.HasExited;

    /// <summary>Provisions on demand, starts the card servers and QEMU, and (for batch sessions) waits for the agent.</summary>
    public static Task<GuestSession> StartAsync(GuestSessionOptions options, ILoggerFactory loggers,
        IProgress<ProvisionStep>? progress = null, CancellationToken cancellationToken = default) =>
        StartAsync(options, loggers, progress, messages: null, cancellationToken);

    /// <summary>
    /// Provisions on demand, builds the user drivers (<see cref="GuestSessionOptions.Drivers"/>), starts the card
    /// servers and QEMU, and (for batch sessions) waits for the agent. <paramref name="messages"/> gets the lines a
    /// person should keep seeing: what was built, and the compiler's warnings with paths into the user's sources.
    /// A driver that cannot be used (a bad directory, a failed build, a name clash) is a <see cref="DriverBuildException"/>
    /// of one line, thrown before anything starts.
    /// </summary>
    public static async Task<GuestSession> StartAsync(GuestSessionOptions options, ILoggerFactory loggers,
        IProgress<ProvisionStep>? progress, IProgress<string>? messages, CancellationToken cancellationToken = default)
    {
        var logger = loggers.CreateLogger("PcieEmu.Harness.GuestSession");
        var sources = SessionDrivers.ReadSources(options.Drivers);
        int steps = 0, extra = sources.Count + 1; // a step per user driver, then the boot
        var counting = progress is null ? null : new StepCounter(progress, extra, n => steps = n);
        var artifacts = await Provisioner.EnsureAsync(counting, cancellationToken: cancellationToken, hotplugQemu: options.HotPlug);
        string qemuBinary = !options.HotPlug ? artifacts.Qemu
            : artifacts.QemuHotplug ?? throw new GuestSessionException("hot-plug needs the qemu-hotplug stage, which provisioning did not report (manifest key qemu_hotplug)");
        var driverBuilds = await SessionDrivers.BuildAsync(sources, artifacts, options.LoadDrivers, progress, steps + 1, steps + extra, messages, cancellationToken);
        progress?.Report(new ProvisionStep(steps + extra, steps + extra, "starting the card server(s) and QEMU, waiting for the guest"));
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

            string initrd = artifacts.Initrd;
            if (driverBuilds.Count > 0)
            {
                // Without our drivers, the base without them: a user's build of pcieemu_audio is then the only one.
                initrd = Path.Combine(work, "initrd");
                UserDrivers.WriteInitrd(options.LoadDrivers ? artifacts.Initrd : artifacts.InitrdBase ?? artifacts.Initrd, driverBuilds, initrd);
            }

            for (int i = 0; i < options.ModelPaths.Count + options.Devices.Count; i++)
            {
                string log = SessionLogs.ServerLog(work, i);
                var cardLoggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new FileLoggerProvider(log)));
                owned.Add(cardLoggers);
                IPciDevice device;
                Tracing.Format.TraceWriter? trace = null;
                if (i < options.ModelPaths.Count)
                {
                    var card = CardFactory.Load(options.ModelPaths[i], cardLoggers, new CardOptions { Routes = options.Routes, KeepSampleBytes = options.KeepSampleBytes });
                    device = card;
                    trace = options.TraceDirectory is { } traces
                        ? TraceRecording.Start(card, options.ModelPaths[i], options.Routes, TracePath(traces, i))
                        : null;
                }
                else
                {
                    var type = options.Devices[i - options.ModelPaths.Count];
                    device = type.Create(PciDeviceContext.RealTime(cardLoggers));
                    trace = options.TraceDirectory is { } traces
                        ? TraceRecording.Start(device, type, TracePath(traces, i))
                        : null;
                }

                device.Function.Checker.Policy = options.CheckerPolicy;
                ViolationLogging.Attach(device.Function.Checker, cardLoggers.CreateLogger("PcieEmu.Checker"));
                violationLog?.Attach(device.Function.Checker);

                // A hot-pluggable card's server outlives its client: the next device_add connects again.
                var serverOptions = options.HotPlug ? options.ServerOptions with { Persist = true } : options.ServerOptions;
                var server = new VfioUserServer(device.Function, Path.Combine(work, $"vu{i}.sock"), serverOptions, cardLoggers);
                server.Listen();
                cards.Add(new CardInstance(i, device, server, log, server.RunAsync(), trace));
            }

            agentListener = GuestAgent.Listen(Path.Combine(work, "agent.sock"));
            var machine = new QemuMachine
            {
                Accelerator = Accelerator.Resolve(options.Accelerator),
                Kernel = artifacts.Kernel,
                Initrd = initrd,
                KernelCommandLine = KernelCommandLine(options, artifacts, driverBuilds),
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
            var qemu = QemuProcess.Start(qemuBinary, args, Path.Combine(work, "qemu.log"), options.Console);
            LogStarted(logger, qemu.Id, machine.Accelerator, cards.Count, work);
            session = new GuestSession(options, artifacts, new SessionDrivers(options.LoadDrivers, artifacts, driverBuilds), work, share, cards, qemu, agentListener, owned, logger) { _violationLog = violationLog };
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

            throw new GuestSessionException($"starting the guest failed: {e.Message}\n{new SessionLogs(work, cards.Count).Describe()}", e);
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
    public string DescribeLogs(int tailLines = SessionLogs.DefaultTailLines) => _logs.Describe(tailLines);

    /// <summary>The modules /init insmods (pcieemu.drivers=), in order: the project's when loaded, then the user's.</summary>
    public IReadOnlyList<string> DriversToLoad => _drivers.ToLoad;

    /// <summary>
    /// For each module of <see cref="DriversToLoad"/> the guest did not load (its agent's @@READY line does not list
    /// it), the reason /init gave on the console ("hello: insmod … failed: …"). Empty before the agent is connected.
    /// </summary>
    public IReadOnlyList<string> DriverLoadFailures() => _agent is null ? [] : _drivers.LoadFailures(_agent.LoadedDrivers, _logs);

    internal static string KernelCommandLine(GuestSessionOptions options, GuestArtifacts artifacts, IReadOnlyList<UserDriverBuild> builds)
    {
        var parts = new List<string> { "console=ttyS0", "panic=-1", "quiet", "pcieemu.share=1" };
        parts.Add(options.Console == ConsoleMode.Terminal ? "pcieemu.mode=shell" : "pcieemu.mode=runner");
        var drivers = SessionDrivers.ModulesToLoad(options.LoadDrivers, artifacts, builds);
        if (drivers.Count > 0)
        {
            parts.Add("pcieemu.drivers=" + string.Join(",", drivers));
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

    /// <summary>Where card <paramref name="index"/>'s trace goes in a session with a trace directory.</summary>
    public static string TracePath(string directory, int index)
    {
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, $"card{index}{TraceRecording.Extension}");
    }

    private static string Quote(string s) => s.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'' or '{' or '}') ? $"'{s.Replace("'", "'\\''", StringComparison.Ordinal)}'" : s;

    /// <summary>Every driver-rule violation the session's cards recorded so far (warnings left out).</summary>
    public IReadOnlyList<RuleViolation> Violations() => ViolationAssertions.Violations(_cards.Select(c => c.Device.Function.Checker));

    /// <summary>
    /// Throws <see cref="DriverViolationException"/> (the first report as its message) when a card saw a violation
    /// of a rule outside <paramref name="expectedRules"/>. Call it after <see cref="DisposeAsync"/> to cover the
    /// driver's shutdown path too; the cards keep their reports after the session ends.
    /// </summary>
    public void AssertNoViolations(params string[] expectedRules) =>
        ViolationAssertions.AssertNone(_cards.Select(c => c.Device.Function.Checker), expectedRules.ToHashSet(StringComparer.Ordinal));

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

            if (_agent is not null && !await _qemu.WaitForExitAsync(TimeSpan.FromSeconds(10)) && Qmp is not null)
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
            if (_agent is null && Qmp is null || !await _qemu.WaitForExitAsync(TimeSpan.FromSeconds(5)))
            {
                LogKilled(_logger, _qemu.Id);
                _qemu.Kill();
                await _qemu.WaitForExitAsync(TimeSpan.FromSeconds(5));
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

    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "QEMU pid {Pid} started ({Accel}, {Cards} card(s)); work directory {Work}")]
    private static partial void LogStarted(ILogger logger, int pid, string accel, int cards, string work);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Guest ready: {Ready}")]
    private static partial void LogReady(ILogger logger, string ready);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "QEMU pid {Pid} did not power off; killed")]
    private static partial void LogKilled(ILogger logger, int pid);
}
