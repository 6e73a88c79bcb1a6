using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard;

/// <summary>The card's register map (firmware-models/pcieemu-audio/registers.json), embedded in this assembly.</summary>
public static class AudioRegisterMap
{
    private static readonly Lazy<RegisterMapDocument> Map = new(() =>
    {
        using var stream = typeof(AudioRegisterMap).Assembly.GetManifestResourceStream("PcieEmu.Devices.AudioCard.registers.json")
                           ?? throw new InvalidOperationException("registers.json resource missing");
        using var reader = new StreamReader(stream);
        return RegisterMapDocument.Parse(reader.ReadToEnd(), "registers.json");
    });

    public static RegisterMapDocument Document => Map.Value;
}
