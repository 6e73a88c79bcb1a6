using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Scheduling;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>
/// All a stream may reach of its card. Its own registers (<see cref="StreamRegisterBlock"/>) and interrupt causes
/// (<see cref="Interrupts.CauseRegister"/>) are handed to it separately; everything else is here, and nothing more.
/// </summary>
internal interface IStreamHost
{
    /// <summary>The function lock: register side effects run under it; the engine side takes it to read and publish state.</summary>
    object Sync { get; }

    /// <summary>Guest memory, through the function's gates. Never called under <see cref="Sync"/> (except local-only reads).</summary>
    IDmaSpace Dma { get; }

    /// <summary>The card's DMA constraints (spec §6.1).</summary>
    DmaConstraints DmaConstraints { get; }

    /// <summary>The device's time.</summary>
    IDeviceClock Clock { get; }

    /// <summary>The card's scheduler: slow work off the register path, and the stream's own deadlines.</summary>
    DeviceScheduler Scheduler { get; }

    /// <summary>Something the driver did that the spec forbids.</summary>
    void Violation(string rule, string detail);

    /// <summary>Who watches the card's host-side output (a trace recorder), or null.</summary>
    IAudioCardObserver? Observer { get; }

    ILogger Logger { get; }
}
