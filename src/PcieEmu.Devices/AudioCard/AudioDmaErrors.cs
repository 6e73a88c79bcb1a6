using PcieEmu.Pci.Dma;

namespace PcieEmu.Devices.AudioCard;

/// <summary>The ERRCODE (spec §10) a failed DMA reports, for both engines: the stream engines and the diagnostic one.</summary>
internal static class AudioDmaErrors
{
    public static AudioDmaErr Of(DmaResult result) => result switch
    {
        DmaResult.Ok => AudioDmaErr.None,
        DmaResult.AccessDenied => AudioDmaErr.Denied,
        DmaResult.BusMasterDisabled => AudioDmaErr.BusMaster,
        DmaResult.OwnBar => AudioDmaErr.OwnBar,
        DmaResult.TransportError => AudioDmaErr.Transport,
        DmaResult.NotInD0 => AudioDmaErr.Power,
        _ => AudioDmaErr.Unmapped,
    };
}
