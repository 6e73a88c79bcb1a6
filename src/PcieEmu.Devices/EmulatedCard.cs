using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Common;
using PcieEmu.Devices.Models;
using PcieEmu.Pci;

namespace PcieEmu.Devices;

/// <summary>What hosts (server, harness, replay) need of any card, whatever its model.</summary>
public interface IEmulatedCard : IDisposable
{
    CardModel Model { get; }

    PciFunction Function { get; }

    DriverRuleViolations Violations { get; }

    /// <summary>
    /// Starts tracing the card into <paramref name="sink"/> (a recorder or a replay comparer): its function's
    /// units, its DMA, interrupts, violations and sink data. Attach before any client traffic.
    /// </summary>
    Pci.Tracing.FunctionTrace AttachTrace(Pci.Tracing.ITraceSink sink);

    /// <summary>External scheduling only: one step of the card's own scheduler at its clock's current time.</summary>
    void RunEngineStep();

    /// <summary>External scheduling only: the next job queued for the card's worker; false when none is queued.</summary>
    bool RunWorkerJob();
}

/// <summary>Host-side settings of a card that are not part of its model file.</summary>
public sealed record CardOptions
{
    /// <summary>Stream name → route (spec §13), replacing the model file's.</summary>
    public IReadOnlyDictionary<string, string> Routes { get; init; } = new Dictionary<string, string>();

    public Common.IDeviceClock? Clock { get; init; }

    public bool ManualTime { get; init; }

    /// <summary>No device threads; the host drives the card's scheduler (trace replay). Needs a manual clock.</summary>
    public bool ExternalScheduling { get; init; }

    /// <summary>Per stream, bytes of transferred samples the host keeps for reading back; 0 (default) keeps none.</summary>
    public long KeepSampleBytes { get; init; }

    /// <summary>Parses "NAME=SPEC" pairs (the CLI's --route).</summary>
    public static IReadOnlyDictionary<string, string> ParseRoutes(IEnumerable<string> pairs)
    {
        var routes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in pairs)
        {
            int eq = p.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == p.Length - 1)
            {
                throw new CardModelException($"--route {p}: expected STREAM=ROUTE, e.g. playback0=wav:/tmp/out.wav");
            }

            routes[p[..eq]] = p[(eq + 1)..];
        }

        return routes;
    }
}

/// <summary>Creates the card a model file names.</summary>
public static class CardFactory
{
    public static IEmulatedCard Create(CardModel model, ILoggerFactory loggerFactory, CardOptions? options = null) => model.Card switch
    {
        "pcieemu-audio" => new AudioCard.AudioCard(model, loggerFactory, new AudioCard.AudioCardOptions
        {
            Routes = CheckRoutes(model, options?.Routes ?? new Dictionary<string, string>()),
            Clock = options?.Clock,
            ManualTime = options?.ManualTime ?? false,
            ExternalScheduling = options?.ExternalScheduling ?? false,
            KeepSampleBytes = options?.KeepSampleBytes ?? 0,
        }),
        _ => throw new CardModelException($"{model.SourcePath}: unknown card \"{model.Card}\""),
    };

    public static IEmulatedCard Load(string modelPath, ILoggerFactory loggerFactory, CardOptions? options = null) =>
        Create(CardModelLoader.Load(modelPath), loggerFactory, options);

    /// <summary>Route overrides must name streams of the model and be valid routes for their direction.</summary>
    private static IReadOnlyDictionary<string, string> CheckRoutes(CardModel model, IReadOnlyDictionary<string, string> routes)
    {
        foreach (var (stream, route) in routes)
        {
            var layout = model.Streams.FirstOrDefault(s => s.Name == stream)
                ?? throw new CardModelException($"route {stream}={route}: {model.Name} has no stream {stream} (it has {string.Join(", ", model.Streams.Select(s => s.Name))})");
            if (!Audio.Routing.AudioRoutes.TryValidate(route, layout.Direction == StreamDirection.Playback, out string? error))
            {
                throw new CardModelException($"route {stream}={route}: {error}");
            }
        }

        return routes;
    }
}
