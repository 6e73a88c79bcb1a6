using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using PcieEmu.Harness.Qemu;
using PcieEmu.VfioUser.Server;

namespace PcieEmu.Harness;

/// <summary>
/// The PCIe slots of a session's cards (one hot-pluggable pcie-root-port each), as a Thunderbolt cable treats a
/// driver: <see cref="UnplugAsync"/> (QMP device_del: the guest is asked, its driver's remove() runs, QEMU then
/// unmaps and closes the card's connection), <see cref="PlugAsync"/> (device_add: QEMU connects to the card's server
/// again, the guest probes it) and <see cref="SurpriseRemoveAsync"/> (the card's server drops its connection without
/// warning: QEMU reads all-ones from then on, and the guest is told nothing).
/// <para>
/// After a surprise removal the dead device must be unplugged before anything else changes the guest's memory map
/// (a reset, firmware): QEMU 11.1.3 aborts on the next DMA map towards a dead server (qemu/provision/README.md,
/// "Hot-plug QEMU"). Unplugging needs the session's <see cref="GuestSessionOptions.HotPlug"/> QEMU: the stock
/// 11.1.3 aborts on every device_del of a vfio-user device with MSI-X, and this class refuses to send one to it.
/// </para>
/// </summary>
public sealed partial class CardSlots
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    private readonly GuestSession _session;
    private readonly GuestSessionOptions _options;
    private readonly IReadOnlyList<CardInstance> _cards;
    private readonly ILogger _logger;
    private readonly HashSet<int> _unplugged = [];

    internal CardSlots(GuestSession session, GuestSessionOptions options, IReadOnlyList<CardInstance> cards, ILogger logger)
    {
        _session = session;
        _options = options;
        _cards = cards;
        _logger = logger;
    }

    /// <summary>Whether card <paramref name="index"/> is plugged (as far as this session did).</summary>
    public bool IsPlugged(int index) => !_unplugged.Contains(Card(index).Index);

    /// <summary>
    /// device_del of card <paramref name="index"/>: returns once QEMU reports DEVICE_DELETED (the guest ejected it,
    /// its driver's remove() returned) and the card's server has released the session (mappings and fds).
    /// </summary>
    public async Task UnplugAsync(int index, CancellationToken cancellationToken = default)
    {
        var card = Card(index);
        EnsureHotPlug("unplug");
        string id = DeviceId(card.Index);
        var ended = SessionEnded(card.Server);
        await Qmp.ExecuteAsync("device_del", new JsonObject { ["id"] = id }, Deadline, cancellationToken);
        await Qmp.WaitForEventAsync("DEVICE_DELETED", e => e["data"]?["device"]?.GetValue<string>() == id, Deadline, cancellationToken);
        await WithDeadline(ended, $"card {card.Index}'s server to see QEMU close the connection after device_del", cancellationToken);
        _unplugged.Add(card.Index);
        LogUnplugged(_logger, card.Index);
    }

    /// <summary>device_add of card <paramref name="index"/> into its slot again: returns once QEMU has connected to the card's server.</summary>
    public async Task PlugAsync(int index, CancellationToken cancellationToken = default)
    {
        var card = Card(index);
        EnsureHotPlug("plug");
        if (!_unplugged.Contains(card.Index))
        {
            throw new InvalidOperationException($"card {card.Index} is plugged; unplug it first");
        }

        var started = SessionStarted(card.Server);
        var device = JsonNode.Parse(QemuCommandLine.VfioUserDevice(DeviceId(card.Index), $"rp{card.Index}", card.Server.SocketPath, 5000))!.AsObject();
        await Qmp.ExecuteAsync("device_add", device, Deadline, cancellationToken);
        await WithDeadline(started, $"QEMU to connect to card {card.Index}'s server after device_add", cancellationToken);
        _unplugged.Remove(card.Index);
        LogPlugged(_logger, card.Index);
    }

    /// <summary>
    /// Card <paramref name="index"/> vanishes: its server closes the connection as a dying server would. QEMU keeps the
    /// device, reading all-ones from it; the guest gets no event. Unplug it next (see the type's remarks).
    /// </summary>
    public async Task SurpriseRemoveAsync(int index, CancellationToken cancellationToken = default)
    {
        var card = Card(index);
        var connection = card.Server.Current ?? throw new InvalidOperationException($"card {card.Index} has no client to lose");
        var ended = SessionEnded(card.Server);
        connection.Shutdown();
        await WithDeadline(ended, $"card {card.Index}'s server to end the session it cut", cancellationToken);
        LogSurpriseRemoved(_logger, card.Index);
    }

    /// <summary>The vfio-user-pci device id of card <paramref name="index"/> on QEMU's command line (QemuCommandLine).</summary>
    public static string DeviceId(int index) => $"vu{index}";

    private QmpClient Qmp => _session.Qmp ?? throw new InvalidOperationException("the session has no QMP connection");

    private CardInstance Card(int index) =>
        index >= 0 && index < _cards.Count ? _cards[index] : throw new ArgumentOutOfRangeException(nameof(index), index, $"the session has {_cards.Count} card(s)");

    private void EnsureHotPlug(string what)
    {
        if (!_options.HotPlug)
        {
            throw new GuestSessionException(
                $"cannot {what} a card: QEMU 11.1.3 aborts on device_del of any vfio-user-pci device with MSI-X " +
                "(system/memory.c: memory_region_del_subregion assertion); start the session with HotPlug " +
                "(pcieemu boot does so when an --exec is @unplug or @plug), which runs the fixed qemu-hotplug build");
        }
    }

    private static Task SessionEnded(VfioUserServer server)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Handler(VfioUserConnection _)
        {
            server.SessionEnded -= Handler;
            done.TrySetResult();
        }

        server.SessionEnded += Handler;
        if (server.Current is null)
        {
            server.SessionEnded -= Handler;
            done.TrySetResult();
        }

        return done.Task;
    }

    private static Task SessionStarted(VfioUserServer server)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Handler(VfioUserConnection _)
        {
            server.SessionStarted -= Handler;
            done.TrySetResult();
        }

        server.SessionStarted += Handler;
        return done.Task;
    }

    private async Task WithDeadline(Task task, string what, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(Deadline, cancellationToken);
        }
        catch (TimeoutException)
        {
            _session.MarkFailed();
            throw new GuestSessionException($"timed out after {Deadline.TotalSeconds:F0} s waiting for {what}\n{_session.DescribeLogs()}");
        }
    }

    [LoggerMessage(EventId = 4010, Level = LogLevel.Information, Message = "Card {Card} unplugged (device_del done, session released)")]
    private static partial void LogUnplugged(ILogger logger, int card);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Information, Message = "Card {Card} plugged (device_add, QEMU connected)")]
    private static partial void LogPlugged(ILogger logger, int card);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Information, Message = "Card {Card} surprise-removed (its server cut the connection)")]
    private static partial void LogSurpriseRemoved(ILogger logger, int card);
}
