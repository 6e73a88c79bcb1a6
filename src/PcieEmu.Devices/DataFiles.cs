namespace PcieEmu.Devices;

/// <summary>
/// The data the tools need, installed beside the binary: the model files, their specs and the schema
/// (firmware-models/), and the provisioning scripts, guest files and driver sources (qemu/). The projects copy them
/// into their build output (content items of PcieEmu.Devices and PcieEmu.Harness), so every verb works from any
/// directory, without a checkout and without $PCIEEMU_REPO.
/// </summary>
public static class DataFiles
{
    /// <summary>The directory of the running binary, which holds the data.</summary>
    public static string Directory { get; } = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory);

    /// <summary>The copy of firmware-models/: one folder per card, with its spec (README.md), register map and model files.</summary>
    public static string ModelsDirectory => Path.Combine(Directory, "firmware-models");

    /// <summary>The audio card's default model (pcieemu-audio/default.json): what serve and boot use without --model.</summary>
    public static string DefaultModelPath => Path.Combine(ModelsDirectory, "pcieemu-audio", "default.json");

    /// <summary>The audio card's pro model (pcieemu-audio/pro.json): 4 playback and 4 capture streams, up to 32 channels, 64-bit DMA.</summary>
    public static string ProModelPath => Path.Combine(ModelsDirectory, "pcieemu-audio", "pro.json");

    /// <summary>The JSON schema every model file is validated against (also embedded in the assembly).</summary>
    public static string SchemaPath => Path.Combine(ModelsDirectory, "schema", "card-model.schema.json");

    /// <summary>The copy of the checkout's qemu/ tree (provisioning finds its repository as qemu/provision/../..).</summary>
    public static string QemuDirectory => Path.Combine(Directory, "qemu");
}
