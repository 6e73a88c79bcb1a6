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

    public static string ModelsDirectory => Path.Combine(Directory, "firmware-models");

    public static string DefaultModelPath => Path.Combine(ModelsDirectory, "pcieemu-audio", "default.json");

    public static string ProModelPath => Path.Combine(ModelsDirectory, "pcieemu-audio", "pro.json");

    public static string SchemaPath => Path.Combine(ModelsDirectory, "schema", "card-model.schema.json");

    /// <summary>The copy of the checkout's qemu/ tree (provisioning finds its repository as qemu/provision/../..).</summary>
    public static string QemuDirectory => Path.Combine(Directory, "qemu");
}
