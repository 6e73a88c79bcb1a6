using PcieEmu.Pci.Observation;

namespace PcieEmu.Tracing.Format;

/// <summary>
/// How to read every record kind of one trace: the framework's (<see cref="TraceSchema"/>) and the device kinds its
/// header declares (<see cref="TraceHeader.DeviceRecords"/>), so a reader needs no knowledge of the card. Get one from
/// <see cref="TraceReader.Schema"/> or <see cref="TraceHeader.Schema"/>; immutable.
/// </summary>
public sealed class RecordSchema
{
    private readonly TraceFields?[] _fields = new TraceFields?[256];
    private readonly string?[] _names = new string?[256];
    private readonly Dictionary<string, TraceEventKind> _byName = new(StringComparer.Ordinal);

    /// <summary>
    /// The framework's kinds plus <paramref name="deviceKinds"/>; <see cref="TraceFormatException"/> for a device kind
    /// outside the device range, declared twice or claiming a time.
    /// </summary>
    internal RecordSchema(IEnumerable<DeviceRecordKind> deviceKinds)
    {
        for (int k = 0; k < 256; k++)
        {
            _fields[k] = TraceSchema.FieldsOf((TraceEventKind)k);
            _names[k] = _fields[k] is null ? null : ((TraceEventKind)k).ToString();
        }

        var kinds = new List<DeviceRecordKind>();
        foreach (var d in deviceKinds)
        {
            if (!TraceSchema.IsDeviceKind(d.Kind))
            {
                throw new TraceFormatException($"device record kind {(byte)d.Kind} ({d.Name}) is outside {(byte)TraceEventKind.FirstDeviceKind}..{(byte)TraceEventKind.LastDeviceKind}");
            }

            if (_fields[(byte)d.Kind] is not null || _byName.ContainsKey(d.Name))
            {
                throw new TraceFormatException($"device record kind {(byte)d.Kind} ({d.Name}) is declared twice");
            }

            if ((d.Fields & TraceFields.Time) != 0)
            {
                throw new TraceFormatException($"device record kind {d.Name} claims a time: only units have one");
            }

            _fields[(byte)d.Kind] = d.Fields;
            _names[(byte)d.Kind] = d.Name;
            _byName[d.Name] = d.Kind;
            kinds.Add(d);
        }

        DeviceKinds = kinds;
    }

    /// <summary>The device kinds, as declared.</summary>
    public IReadOnlyList<DeviceRecordKind> DeviceKinds { get; }

    /// <summary>The fields of <paramref name="kind"/>, or null for a kind this trace does not have.</summary>
    public TraceFields? FieldsOf(TraceEventKind kind) => _fields[(byte)kind];

    /// <summary>A kind's name: the framework's enum name or the device's.</summary>
    public string NameOf(TraceEventKind kind) => _names[(byte)kind] ?? $"kind {(byte)kind}";

    /// <summary>The device kind named <paramref name="name"/> in this trace, if declared.</summary>
    public TraceEventKind? DeviceKind(string name) => _byName.TryGetValue(name, out var k) ? k : null;

    /// <summary>True when <paramref name="kind"/> is the device kind named <paramref name="name"/>.</summary>
    public bool Is(TraceEventKind kind, string name) => _byName.TryGetValue(name, out var k) && k == kind;
}
