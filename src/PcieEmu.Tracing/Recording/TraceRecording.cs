using System.Reflection;
using PcieEmu.Devices;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Hosting;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Recording;

/// <summary>Starts recording a card into a trace file (`pcieemu serve --trace`, `pcieemu boot --trace`, the harness).</summary>
public static class TraceRecording
{
    /// <summary>The extension trace files get when the tools name them.</summary>
    public const string Extension = ".petrace";

    /// <summary>
    /// Attaches a <see cref="TraceWriter"/> for <paramref name="path"/> to <paramref name="card"/>, before any client
    /// traffic. The header carries the model file's text and the routes, so the trace alone is enough to replay.
    /// End it with <see cref="Finish"/> once the card's client has gone.
    /// </summary>
    public static TraceWriter Start(IEmulatedCard card, string modelPath, IReadOnlyDictionary<string, string> routes, string path)
    {
        string json = CardModelLoader.ReadModelText(modelPath);
        var header = new TraceHeader
        {
            Card = card.Model.Card,
            ModelName = card.Model.Name,
            ModelSha256 = TraceHeader.Sha256Of(json),
            ModelJson = json,
            Routes = new Dictionary<string, string>(routes),
            RecordedAt = DateTimeOffset.UtcNow,
            Recorder = "pcieemu " + (typeof(TraceRecording).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?"),
            DeviceRecords = [.. card.RecordKinds.Select(DeviceRecordDeclaration.Of)],
        };
        var writer = new TraceWriter(path, header);
        card.Observe(writer);
        return writer;
    }

    /// <summary>
    /// Attaches a <see cref="TraceWriter"/> for <paramref name="path"/> to a device of <paramref name="type"/> (a
    /// user's device, without a model file), before any client traffic. The header names the type and carries a small
    /// description in place of a model file; <see cref="Replay.TraceReplayer.Replay(string, Replay.ReplayOptions, PciDeviceType, Microsoft.Extensions.Logging.ILoggerFactory)"/>
    /// rebuilds the device from the same type.
    /// </summary>
    public static TraceWriter Start(IPciDevice device, PciDeviceType type, string path)
    {
        string json = DeviceDescription(type);
        var header = new TraceHeader
        {
            Card = type.Name,
            ModelName = device.Function.Name,
            ModelSha256 = TraceHeader.Sha256Of(json),
            ModelJson = json,
            RecordedAt = DateTimeOffset.UtcNow,
            Recorder = "pcieemu " + (typeof(TraceRecording).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?"),
            DeviceRecords = [.. device.RecordKinds.Select(DeviceRecordDeclaration.Of)],
        };
        var writer = new TraceWriter(path, header);
        device.Observe(writer);
        return writer;
    }

    /// <summary>What a trace of a user's device carries where a card's trace carries its model file.</summary>
    internal static string DeviceDescription(PciDeviceType type) =>
        System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string> { ["device"] = type.Name });

    /// <summary>
    /// Ends the recording between two units (a device thread may still be running one) and completes the file;
    /// whatever the card does afterwards is not recorded. Throws <see cref="IOException"/> if writing failed.
    /// </summary>
    public static void Finish(IPciDevice card, TraceWriter writer)
    {
        if (card.Function.Observation is { } observation)
        {
            observation.RunBetweenUnits(writer.Complete);
        }
        else
        {
            writer.Complete();
        }
    }
}
