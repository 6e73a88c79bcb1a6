using Microsoft.Extensions.Logging;
using PcieEmu.Pci;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard;

public sealed partial class AudioCard
{
    // Side effects named in registers.json ("onWrite"/"onRead"). All run under the function lock and stay O(1).
    private Dictionary<string, RegisterWriteHandler> WriteHandlers() => new()
    {
        ["GlobalControl"] = GlobalControl,
        ["InterruptStatusWritten"] = (in RegisterWrite _) => UpdateIntx(),
        ["InterruptEnableWritten"] = InterruptEnableWritten,
        ["DiagnosticInterrupt"] = DiagnosticInterrupt,
        ["DiagnosticDmaControl"] = DiagnosticDmaControl,
    };

    private Dictionary<string, RegisterReadHandler> ReadHandlers() => new()
    {
        ["InterruptCount"] = (_, _) => (uint)_interruptEvents,
        ["InterruptStatusRead"] = InterruptStatusRead,
        ["WallClock"] = (_, _) => (ulong)Now,
    };

    /// <summary>GCTL (spec §4, §7): RESET resets registers and engines and clears SRAM.</summary>
    private void GlobalControl(in RegisterWrite write)
    {
        if ((write.NewValue & AudioFields.Gctl.Reset) == 0)
        {
            return;
        }

        LogCardReset(_logger);
        ResetEngines("GCTL.RESET");
        StopStreams(ResetKind.Device);
        _registers.Reset();
        _interruptEvents = 0;
        Sram?.Clear();
        UpdateIntx();
    }

    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "GCTL.RESET: registers and engines reset")]
    private static partial void LogCardReset(ILogger logger);
}
