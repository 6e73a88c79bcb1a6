using System.Collections.Frozen;
using PcieEmu.Pci.Checking;

namespace PcieEmu.Devices.AudioCard;

/// <summary>
/// Every rule the audio card checks, declared once (name, spec section, what the driver should have done): the
/// stream rules (one per ERRCODE a driver can cause, spec §6.3, §10), the diagnostic engine's, and the card-wide ones.
/// The catalogue in the spec (§14) lists them with the seeded driver bug that trips each.
/// </summary>
internal static class AudioRules
{
    /// <summary>Where the sections point.</summary>
    public const string Spec = "firmware-models/pcieemu-audio/README.md";

    public static readonly DriverRule StreamReprogrammedWhileRunning = new(
        "StreamReprogrammedWhileRunning", "§9.3",
        "clear SD_CTL.RUN and wait for SD_STS.RUNNING to read 0 before writing SD_FMT, SD_BDL, SD_BDLN, SD_CBL or SD_POSBUF");

    public static readonly DriverRule DiagDmaStartWhileBusy = new(
        "DiagDmaStartWhileBusy", "§6.2",
        "wait for DIAG_DMA_STS.DONE or ERR (or its interrupt) before starting the next diagnostic transfer");

    public static readonly DriverRule InterruptNotAcknowledged = new(
        "InterruptNotAcknowledged", "§5, §9.4",
        "acknowledge every interrupt cause it handles by writing 1 to its status bit (SD_STS, INTSTS) in the interrupt handler");

    public static readonly DriverRule RunningIntoD3Hot = new(
        "RunningIntoD3Hot", "§7, §8",
        "stop every stream (SD_CTL.RUN = 0) and let the diagnostic engine finish before putting the card into D3hot (suspend)");

    private static readonly FrozenDictionary<AudioDmaErr, (string Section, string Expected)> Codes = new Dictionary<AudioDmaErr, (string, string)>
    {
        [AudioDmaErr.Unmapped] = ("§6.1 rule 3, §10", "map every byte the card will touch (descriptor list, segments, position buffer) for DMA, and keep it mapped until the stream or transfer has stopped"),
        [AudioDmaErr.Denied] = ("§6.1 rule 3", "map playback buffers for the device to read (DMA_TO_DEVICE) and capture buffers and the position buffer for it to write (DMA_FROM_DEVICE)"),
        [AudioDmaErr.BusMaster] = ("§6.1 rule 1", "enable bus mastering (pci_set_master) before the card does any DMA"),
        [AudioDmaErr.OwnBar] = ("§6.1 rule 3", "point DMA at system memory, never at one of the card's own BARs"),
        [AudioDmaErr.AddrBits] = ("§6.1 rule 2", "honour DMACAPS.ADDR_BITS: set the DMA mask to it (dma_set_mask_and_coherent) so no buffer lies above"),
        [AudioDmaErr.Align] = ("§6.1 rule 2, §10", "align the descriptor list and every segment to 2^DMACAPS.ALIGN_LOG2 bytes"),
        [AudioDmaErr.Length] = ("§6.1 rule 2, §10", "keep every segment 1..MAXSEG bytes: split a larger period over several descriptors"),
        [AudioDmaErr.DescReserved] = ("§10", "write the reserved bits of a descriptor's FLAGS as 0"),
        [AudioDmaErr.Cbl] = ("§10 rule 3", "program SD_CBL with the sum of the descriptor lengths (the whole cyclic buffer)"),
        [AudioDmaErr.Format] = ("§9.2", "program SD_FMT with a format, rate and channel count the stream's SD_CAPS offers"),
        [AudioDmaErr.NoBdl] = ("§9.3, §10 rule 1", "program SD_BDL and SD_BDLN before setting SD_CTL.RUN"),
        [AudioDmaErr.Boundary] = ("§6.1, §10", "split segments at 2^DMACAPS.BOUNDARY_BITS boundaries (dma_set_seg_boundary)"),
        [AudioDmaErr.Frame] = ("§10 rule 2", "make every segment a whole number of frames"),
        [AudioDmaErr.BdlLength] = ("§10 rule 1", "use at most 256 descriptors"),
        [AudioDmaErr.Power] = ("§7", "stop the card's DMA before putting it into D3hot, and bring it back to D0 before starting any"),
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<AudioDmaErr, DriverRule> StreamRules =
        Codes.ToFrozenDictionary(c => c.Key, c => new DriverRule($"Stream{c.Key}", c.Value.Section, c.Value.Expected));

    /// <summary>The diagnostic engine checks the codes a single transfer can break (spec §6.2: 1–8 and POWER).</summary>
    private static readonly FrozenDictionary<AudioDmaErr, DriverRule> DiagRules = Codes
        .Where(c => c.Key is AudioDmaErr.Unmapped or AudioDmaErr.Denied or AudioDmaErr.BusMaster or AudioDmaErr.OwnBar
            or AudioDmaErr.AddrBits or AudioDmaErr.Align or AudioDmaErr.Length or AudioDmaErr.Power)
        .ToFrozenDictionary(c => c.Key, c => new DriverRule($"Dma{c.Key}", "§6.2, " + c.Value.Section, c.Value.Expected));

    /// <summary>The rule a stream broke when it stopped or was refused with <paramref name="code"/>; null for TRANSPORT (the host's).</summary>
    public static DriverRule? Stream(AudioDmaErr code) => StreamRules.GetValueOrDefault(code);

    /// <summary>The rule a diagnostic transfer broke when it ended with <paramref name="code"/>; null for TRANSPORT.</summary>
    public static DriverRule? Diag(AudioDmaErr code) => DiagRules.GetValueOrDefault(code);

    /// <summary>Every rule of the card (the framework's come on top: <see cref="FunctionRules"/>).</summary>
    public static IReadOnlyList<DriverRule> All { get; } =
    [
        .. StreamRules.Values.OrderBy(r => r.Name, StringComparer.Ordinal),
        .. DiagRules.Values.OrderBy(r => r.Name, StringComparer.Ordinal),
        StreamReprogrammedWhileRunning, DiagDmaStartWhileBusy, InterruptNotAcknowledged, RunningIntoD3Hot,
    ];

    /// <summary>"UNMAPPED (1)": an ERRCODE as reports show it.</summary>
    public static string ErrcodeText(AudioDmaErr code) => $"{ErrcodeName(code)} ({(int)code})";

    /// <summary>The spec's name of an ERRCODE (§6.3), e.g. BDL_LENGTH.</summary>
    public static string ErrcodeName(AudioDmaErr code) => code switch
    {
        AudioDmaErr.BusMaster => "BUS_MASTER",
        AudioDmaErr.OwnBar => "OWN_BAR",
        AudioDmaErr.AddrBits => "ADDR_BITS",
        AudioDmaErr.DescReserved => "DESC_RESERVED",
        AudioDmaErr.NoBdl => "NO_BDL",
        AudioDmaErr.BdlLength => "BDL_LENGTH",
        _ => code.ToString().ToUpperInvariant(),
    };
}
