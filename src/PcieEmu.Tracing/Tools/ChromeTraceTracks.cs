using PcieEmu.Pci.Interrupts;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Tools;

/// <summary>The timeline rows of an export, in display order (the enum order sorts them).</summary>
internal enum ChromeTrackKind
{
    Config,
    IrqSetup,
    DmaMap,
    Mmio,
    StreamMmio,
    Engine,
    Worker,
    StreamDma,
    OtherDma,
    Irq,
    Violations,
}

/// <summary>One row: a kind and the numbers that tell rows of that kind apart (BAR, stream, or IRQ index and vector).</summary>
internal readonly record struct ChromeTrack(ChromeTrackKind Kind, ulong Number = 0, ulong Sub = 0)
{
    public static ChromeTrack Config => new(ChromeTrackKind.Config);

    public static ChromeTrack IrqSetup => new(ChromeTrackKind.IrqSetup);

    public static ChromeTrack DmaMap => new(ChromeTrackKind.DmaMap);

    public static ChromeTrack Engine => new(ChromeTrackKind.Engine);

    public static ChromeTrack Worker => new(ChromeTrackKind.Worker);

    public static ChromeTrack OtherDma => new(ChromeTrackKind.OtherDma);

    public static ChromeTrack Violations => new(ChromeTrackKind.Violations);

    public static ChromeTrack Mmio(ulong bar) => new(ChromeTrackKind.Mmio, bar);

    public static ChromeTrack StreamMmio(int stream) => new(ChromeTrackKind.StreamMmio, (ulong)stream);

    public static ChromeTrack StreamDma(int stream) => new(ChromeTrackKind.StreamDma, (ulong)stream);

    public static ChromeTrack Irq(ulong index, ulong vector) => new(ChromeTrackKind.Irq, index, vector);

    /// <summary>Viewers order rows by thread_sort_index: kinds in enum order, then by number.</summary>
    public int SortIndex => ((int)Kind * 100_000) + (int)Math.Min((Number * 4096) + Sub, 99_999UL);

    public string Name(AudioStreamMap? streams) => Kind switch
    {
        ChromeTrackKind.Config => "config",
        ChromeTrackKind.IrqSetup => "IRQ setup",
        ChromeTrackKind.DmaMap => "DMA map",
        ChromeTrackKind.Mmio => $"MMIO BAR{Number}",
        ChromeTrackKind.StreamMmio => $"{StreamLabel(streams)} MMIO",
        ChromeTrackKind.Engine => "engine",
        ChromeTrackKind.Worker => "worker",
        ChromeTrackKind.StreamDma => $"DMA {StreamLabel(streams)}",
        ChromeTrackKind.OtherDma => streams is null ? "DMA" : "DMA other",
        ChromeTrackKind.Irq => $"IRQ vector {Sub} ({TraceValueNames.Of<IrqIndex>(Number)})",
        ChromeTrackKind.Violations => "violations",
        _ => Kind.ToString(),
    };

    private string StreamLabel(AudioStreamMap? streams) => streams?.Label((int)Number) ?? $"stream {Number}";
}
