namespace PcieEmu.Codegen;

/// <summary>
/// The files generated from the cards' register maps, relative to the repository root. One list serves the tool
/// (writes them, or checks them with --check), the build (PcieEmu.Devices runs the tool when a map changes) and the
/// tests (fail when a committed copy is stale).
/// </summary>
internal static class GeneratedFiles
{
    /// <summary>What the generated files name as their generator.</summary>
    public const string Generator = "src/PcieEmu.Codegen";

    /// <summary>One register map and the files generated from it (paths relative to the repository root).</summary>
    /// <param name="RegisterMap">The register map (JSON) the files are generated from.</param>
    /// <param name="CHeader">The driver's C header.</param>
    /// <param name="CSharp">The C# constants: offset enums, field masks, enums.</param>
    /// <param name="CSharpTable">The C# register definitions and handler interfaces.</param>
    /// <param name="Namespace">The C# namespace of the generated types.</param>
    /// <param name="TypePrefix">What the generated C# type names start with.</param>
    public sealed record Target(string RegisterMap, string CHeader, string CSharp, string CSharpTable, string Namespace, string TypePrefix);

    public static IReadOnlyList<Target> Targets { get; } =
    [
        new("firmware-models/pcieemu-audio/registers.json",
            "qemu/drivers/pcieemu_audio/pcieemu_audio_regs.h",
            "src/PcieEmu.Devices/AudioCard/AudioRegister.g.cs",
            "src/PcieEmu.Devices/AudioCard/AudioRegisterTable.g.cs",
            "PcieEmu.Devices.AudioCard",
            "Audio"),
    ];

    /// <summary>(path, expected content) of every generated file. Throws <see cref="RegisterMapException"/> for an invalid map.</summary>
    public static IEnumerable<(string Path, string Content)> Render(string repositoryRoot)
    {
        foreach (var t in Targets)
        {
            var map = RegisterMapDocument.Load(Path.Combine(repositoryRoot, t.RegisterMap));
            yield return (t.CHeader, RegisterMapCodegen.CHeader(map, t.RegisterMap));
            yield return (t.CSharp, RegisterMapCodegen.CSharpConstants(map, t.RegisterMap, t.Namespace, t.TypePrefix));
            yield return (t.CSharpTable, RegisterTableCodegen.CSharpTable(map, t.RegisterMap, t.Namespace, t.TypePrefix));
        }
    }
}
