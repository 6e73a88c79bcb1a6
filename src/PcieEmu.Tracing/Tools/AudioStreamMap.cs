using System.Text.Json;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Tools;

/// <summary>
/// Which audio stream a traced access concerns (firmware-models/pcieemu-audio/README.md): BAR0 offsets inside the SD
/// block of stream i (§9.1), and MSI/MSI-X vector 1 + i (§5, §9.4). Vector folding (fewer vectors than streams)
/// is not undone: with folding, an interrupt is credited to the stream its vector number names.
/// </summary>
internal sealed class AudioStreamMap
{
    public const string AudioCard = AudioCardModel.CardKind;

    /// <summary>BAR of the register file (spec §3).</summary>
    public const int RegisterBar = 0;

    private static readonly Dictionary<ulong, string> GlobalRegisters = Enum.GetValues<AudioRegister>()
        .ToDictionary(r => (ulong)r, r => SpecName(r.ToString()));

    private static readonly Dictionary<ulong, string> StreamRegisters = Enum.GetValues<AudioSdRegister>()
        .Where(r => r != AudioSdRegister.Chvol)
        .Select(r => (Offset: (ulong)r, Name: "SD_" + SpecName(r.ToString())))
        .Concat(Enumerable.Range(0, AudioSdBlock.ChvolCount)
            .Select(i => (Offset: (ulong)AudioSdRegister.Chvol + ((ulong)i * AudioSdBlock.ChvolStride), Name: $"SD_CHVOL[{i}]")))
        .ToDictionary(r => r.Offset, r => r.Name);

    private readonly string[] _names;

    private AudioStreamMap(string[] names) => _names = names;

    /// <summary>Stream names in card order (playback first, then capture); empty names when the model could not be read.</summary>
    public IReadOnlyList<string> Names => _names;

    public int Count => _names.Length;

    /// <summary>The map for a trace of the audio card, or null for any other card.</summary>
    public static AudioStreamMap? For(TraceHeader header) =>
        header.Card == AudioCard ? new AudioStreamMap(StreamNames(header.ModelJson)) : null;

    /// <summary>The stream whose SD block holds BAR <paramref name="bar"/> offset <paramref name="offset"/>, or null.</summary>
    public int? StreamOfMmio(ulong bar, ulong offset)
    {
        if (bar != RegisterBar || offset < AudioSdBlock.Base)
        {
            return null;
        }

        ulong index = (offset - AudioSdBlock.Base) / AudioSdBlock.Stride;
        return index < (ulong)_names.Length ? (int)index : null;
    }

    /// <summary>The stream an interrupt on <paramref name="vector"/> signals, or null (INTx, vector 0: global causes).</summary>
    public int? StreamOfVector(ulong index, ulong vector)
    {
        if (index is not ((ulong)IrqIndex.Msi or (ulong)IrqIndex.Msix) || vector == 0)
        {
            return null;
        }

        ulong stream = vector - 1;
        return stream < (ulong)_names.Length ? (int)stream : null;
    }

    /// <summary>The spec's name of the register at BAR <paramref name="bar"/> offset <paramref name="offset"/> ("INTSTS", "SD_CTL"), or null.</summary>
    public string? RegisterName(ulong bar, ulong offset)
    {
        if (bar != RegisterBar)
        {
            return null;
        }

        if (StreamOfMmio(bar, offset) is { } stream)
        {
            return StreamRegisters.GetValueOrDefault(offset - AudioSdBlock.Base - ((ulong)stream * AudioSdBlock.Stride));
        }

        return GlobalRegisters.GetValueOrDefault(offset);
    }

    /// <summary>"stream 1 (capture0)", or "stream 1" without a name.</summary>
    public string Label(int stream) =>
        stream < _names.Length && _names[stream].Length > 0 ? $"stream {stream} ({_names[stream]})" : $"stream {stream}";

    /// <summary>"DiagDmaAddr" → "DIAG_DMA_ADDR", as the spec's register table spells it.</summary>
    private static string SpecName(string member)
    {
        var name = new System.Text.StringBuilder(member.Length + 4);
        for (int i = 0; i < member.Length; i++)
        {
            if (i > 0 && char.IsUpper(member[i]))
            {
                name.Append('_');
            }

            name.Append(char.ToUpperInvariant(member[i]));
        }

        return name.ToString();
    }

    /// <summary>
    /// Stream names from the embedded model, ordered as the card numbers them. Only the "streams" list is read (no
    /// full model validation): a tool should still work on a trace whose model a newer card version wrote. Without a
    /// readable list every SD block is taken to exist, unnamed.
    /// </summary>
    private static string[] StreamNames(string modelJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(modelJson);
            if (!doc.RootElement.TryGetProperty("streams", out var streams) || streams.ValueKind != JsonValueKind.Array)
            {
                return Unnamed();
            }

            var playback = new List<string>();
            var capture = new List<string>();
            foreach (var s in streams.EnumerateArray())
            {
                string name = s.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
                bool isCapture = s.TryGetProperty("direction", out var d) && d.ValueKind == JsonValueKind.String && d.GetString() == "capture";
                (isCapture ? capture : playback).Add(name);
            }

            return [.. playback.Concat(capture).Take(AudioSdBlock.Count)];
        }
        catch (JsonException)
        {
            return Unnamed();
        }

        static string[] Unnamed() => [.. Enumerable.Repeat("", AudioSdBlock.Count)];
    }
}
