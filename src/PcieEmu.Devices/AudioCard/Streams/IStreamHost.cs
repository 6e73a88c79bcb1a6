using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Checking;
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
    void Violation(DriverRule rule, ViolationDetails details);

    /// <summary>Something on the host's side failed (a file, a loopback): stops like a violation, never charged to the driver.</summary>
    void HostProblem(string kind, string detail, int stream);

    /// <summary>The guest access the calling thread is serving (the register write in progress), if any.</summary>
    GuestAccess? CurrentAccess { get; }

    /// <summary>The register map's name of BAR0 offset <paramref name="offset"/> (e.g. "SD1_BDL").</summary>
    string? RegisterName(uint offset);

    /// <summary>Who watches the card's host-side output (a trace recorder), or null.</summary>
    IAudioCardObserver? Observer { get; }

    ILogger Logger { get; }
}
