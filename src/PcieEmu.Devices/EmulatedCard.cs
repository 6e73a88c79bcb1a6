using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Common;
using PcieEmu.Devices.Models;
using PcieEmu.Pci;
using PcieEmu.Pci.Checking;
using PcieEmu.Pci.Hosting;
using PcieEmu.Pci.Observation;
using PcieEmu.Pci.Scheduling;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Devices;

/// <summary>What hosts (server, harness, replay) need of any card, whatever its model.</summary>
/// <remarks>
/// A card is an <see cref="IPciDevice"/>: its <see cref="IPciDevice.RecordKinds"/> are the card's own record kinds (a
/// trace carries them, so any reader can decode them), and <see cref="IPciDevice.Observe"/> observes the function's
/// units, DMA and interrupts plus the card's own records (violations, samples handed to the host).
/// </remarks>
public interface IEmulatedCard : IPciDevice
{
    /// <summary>The card's model: what every card kind has (a kind's own record, e.g. <see cref="AudioCardModel"/>, adds the rest).</summary>
    CardModel Model { get; }

    /// <summary>What the driver did wrong (the card's rules and the framework's) and host problems: the function's checker.</summary>
    DriverChecker Checker { get; }

    /// <summary>Every rule the card checks besides the framework's (<see cref="FunctionRules"/>), for catalogues and policies.</summary>
    IReadOnlyList<DriverRule> Rules { get; }
}

/// <summary>Host-side settings of a card that are not part of its model file.</summary>
public sealed record CardOptions
{
    /// <summary>Stream name → route (spec §13), replacing the model file's.</summary>
    public IReadOnlyDictionary<string, string> Routes { get; init; } = new Dictionary<string, string>();

    /// <summary>The card's time; null (default) for the host's monotonic clock.</summary>
    public IDeviceClock? Clock { get; init; }

    /// <summary>How the card's scheduler runs (Manual and External need a <see cref="ManualDeviceClock"/>).</summary>
    public SchedulerMode Scheduling { get; init; } = SchedulerMode.RealTime;

    /// <summary>Per stream, bytes of transferred samples the host keeps for reading back; 0 (default) keeps none.</summary>
    public long KeepSampleBytes { get; init; }

    /// <summary>Parses "NAME=SPEC" pairs (the CLI's --route) into <see cref="Routes"/>; a later pair for the same stream wins. Routes are checked when the card is created.</summary>
    /// <exception cref="CardModelException">A pair is not STREAM=ROUTE.</exception>
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
    /// <summary>
    /// Creates the card <paramref name="model"/> describes, running (its scheduler started, in the mode
    /// <paramref name="options"/> gives). The caller owns the card and disposes it.
    /// </summary>
    /// <exception cref="CardModelException">The model names an unknown card, or a route names a stream the model lacks or is malformed.</exception>
    /// <exception cref="PciConfigurationException">The model's BARs or capabilities do not fit together.</exception>
    public static IEmulatedCard Create(CardModel model, ILoggerFactory loggerFactory, CardOptions? options = null) => model switch
    {
        AudioCardModel { Card: AudioCardModel.CardKind } audio => new AudioCard.AudioCard(audio, loggerFactory, new AudioCard.AudioCardOptions
        {
            Routes = CheckRoutes(audio, options?.Routes ?? new Dictionary<string, string>()),
            Clock = options?.Clock,
            Scheduling = options?.Scheduling ?? SchedulerMode.RealTime,
            KeepSampleBytes = options?.KeepSampleBytes ?? 0,
        }),
        _ => throw new CardModelException($"{model.SourcePath}: unknown card \"{model.Card}\""),
    };

    /// <summary>Loads the model file at <paramref name="modelPath"/> and creates its card (<see cref="Create"/>).</summary>
    /// <exception cref="CardModelException">The file is missing, unreadable or invalid against the schema, or as for <see cref="Create"/>.</exception>
    public static IEmulatedCard Load(string modelPath, ILoggerFactory loggerFactory, CardOptions? options = null) =>
        Create(CardModelLoader.Load(modelPath), loggerFactory, options);

    /// <summary>Every rule a card of <paramref name="model"/> checks, the framework's included (for policies and catalogues).</summary>
    public static IReadOnlyList<DriverRule> RulesOf(CardModel model) => model.Card switch
    {
        AudioCardModel.CardKind => [.. FunctionRules.All, .. AudioCard.AudioRules.All],
        _ => FunctionRules.All,
    };

    /// <summary>Route overrides must name streams of the model and be valid routes for their direction.</summary>
    private static IReadOnlyDictionary<string, string> CheckRoutes(AudioCardModel model, IReadOnlyDictionary<string, string> routes)
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
