using Microsoft.Extensions.Logging;
using PcieEmu.Devices.AudioCard.Streams;
using PcieEmu.Pci.Checking;
using PcieEmu.Devices.Models;
using PcieEmu.Pci;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Scheduling;
using PcieEmu.Pci.Timing;

namespace PcieEmu.Devices.AudioCard;

/// <summary>What the card gives its streams (<see cref="IStreamHost"/>); the function is bound once the card has built it.</summary>
internal sealed class CardStreamHost(DmaConstraints constraints, ILogger logger) : IStreamHost
{
    private PciFunction? _function;

    public PciFunction Function
    {
        get => _function ?? throw new InvalidOperationException("the card's function is not built yet");
        set => _function = value;
    }

    public object Sync => Function.Sync;

    public IDmaSpace Dma => Function.Dma;

    public DmaConstraints DmaConstraints => constraints;

    public IDeviceClock Clock => Function.Clock;

    public DeviceScheduler Scheduler => Function.Scheduler;

    public IAudioCardObserver? Observer { get; set; }

    public ILogger Logger => logger;

    public void Violation(DriverRule rule, ViolationDetails details) => Function.Checker.Report(rule, details);

    public void HostProblem(string kind, string detail, int stream) => Function.Checker.ReportHost(kind, detail, stream);

    public GuestAccess? CurrentAccess => Function.Checker.CurrentAccess;


    public string? RegisterName(uint offset) => Function.Checker.RegisterNames?.Invoke(0, offset);
}
