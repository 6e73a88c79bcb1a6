using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using PcieEmu.Pci.Observation;

namespace PcieEmu.Tracing.Format;

/// <summary>
/// What a trace was recorded against (src/PcieEmu.Tracing/TRACE-FORMAT.md "Header"). The model file's text travels inside the
/// trace, so a replay needs nothing else; its SHA-256 identifies the model when another file is given.
/// </summary>
public sealed record TraceHeader
{
    /// <summary>
    /// The card's type: its model's card name ("pcieemu-audio"), or the <see cref="PcieEmu.Pci.Hosting.PciDeviceType"/>
    /// name of a user's device. A replay rebuilds this card.
    /// </summary>
    public required string Card { get; init; }

    /// <summary>The model's name (a card) or the PCI function's name (a user's device), for people.</summary>
    public required string ModelName { get; init; }

    /// <summary>Lower-case hex SHA-256 of <see cref="ModelJson"/>'s UTF-8 bytes.</summary>
    public required string ModelSha256 { get; init; }

    /// <summary>The model file's text as the card was built from it (a user's device: a small JSON naming its type).</summary>
    public required string ModelJson { get; init; }

    /// <summary>Route overrides the card ran with (stream name → route, spec §13).</summary>
    public IReadOnlyDictionary<string, string> Routes { get; init; } = new Dictionary<string, string>();

    /// <summary>When the recording started (UTC); information only, replay ignores it.</summary>
    public DateTimeOffset RecordedAt { get; init; }

    /// <summary>Who wrote it (pcieemu version), for people reading a dump.</summary>
    public string Recorder { get; init; } = "";

    /// <summary>The record kinds the card defined (number, name, fields): enough to decode them without the card.</summary>
    public IReadOnlyList<DeviceRecordDeclaration> DeviceRecords { get; init; } = [];

    /// <summary>The schema of this trace's records.</summary>
    public RecordSchema Schema() => new(DeviceRecords.Select(d => d.ToKind()));

    /// <summary>The value <see cref="ModelSha256"/> must have for <paramref name="modelJson"/>; a reader refuses a header where they differ.</summary>
    public static string Sha256Of(string modelJson) =>
        Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(modelJson))).ToLowerInvariant();

    internal byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Options);

    internal static TraceHeader? FromJson(ReadOnlySpan<byte> json) => JsonSerializer.Deserialize<TraceHeader>(json, Options);

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}

/// <summary>A device record kind as a trace header declares it.</summary>
/// <param name="Kind">The kind's number, in the device range of <see cref="TraceEventKind"/> (64 and up).</param>
/// <param name="Name">The kind's name, unique in the trace ("Violation", "SinkData").</param>
/// <param name="Fields">The <see cref="TraceFields"/> the records carry, by name ("A", "Text", …); never "Time".</param>
public sealed record DeviceRecordDeclaration(int Kind, string Name, string[] Fields)
{
    /// <summary>The declaration of a kind the device defines.</summary>
    internal static DeviceRecordDeclaration Of(DeviceRecordKind kind) =>
        new((byte)kind.Kind, kind.Name, [.. Enum.GetValues<TraceFields>().Where(f => f != TraceFields.None && (kind.Fields & f) != 0).Select(f => f.ToString())]);

    /// <summary>The kind back from its declaration; <see cref="TraceFormatException"/> when it is malformed.</summary>
    internal DeviceRecordKind ToKind()
    {
        if (Kind is < 0 or > 255 || string.IsNullOrEmpty(Name))
        {
            throw new TraceFormatException($"device record kind {Kind} \"{Name}\" is malformed");
        }

        var fields = TraceFields.None;
        foreach (var f in Fields ?? [])
        {
            fields |= Enum.TryParse<TraceFields>(f, out var v) && v != TraceFields.None
                ? v
                : throw new TraceFormatException($"device record kind {Name}: unknown field \"{f}\"");
        }

        return new DeviceRecordKind((TraceEventKind)Kind, Name, fields);
    }
}
