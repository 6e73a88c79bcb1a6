using PcieEmu.Pci.Checking;
using PcieEmu.Devices;
using PcieEmu.Harness.Qemu;
using PcieEmu.Pci.Hosting;
using PcieEmu.VfioUser.Server;

namespace PcieEmu.Harness;

/// <summary>How to boot a guest with cards: which models, what the guest loads, where files go.</summary>
public sealed record GuestSessionOptions
{
    /// <summary>One card per model file, each behind its own pcie-root-port.</summary>
    public IReadOnlyList<string> ModelPaths { get; init; } = [DataFiles.DefaultModelPath];

    /// <summary>
    /// Users' devices, each served behind its own pcie-root-port after the cards of <see cref="ModelPaths"/> (set
    /// ModelPaths to [] for a guest with only these). <see cref="GuestSession.Cards"/> lists them after the cards, with
    /// <see cref="CardInstance.Device"/> set; a <see cref="TraceDirectory"/> records them too.
    /// </summary>
    public IReadOnlyList<PciDeviceType> Devices { get; init; } = [];

    /// <summary>Host folder mounted in the guest at /mnt/host (default: a fresh folder in the work directory).</summary>
    public string? ShareDirectory { get; init; }

    /// <summary>
    /// insmod the project's driver(s) (qemu/drivers, built by provisioning) at boot. Off, they are not even in the
    /// guest when <see cref="Drivers"/> adds the user's (its initrd is then built on provisioning's initrd_base).
    /// </summary>
    public bool LoadDrivers { get; init; } = true;

    /// <summary>
    /// Source directories of the user's out-of-tree kernel modules (each with a Kbuild or Makefile, like
    /// qemu/drivers/pcieemu_audio): built against the guest kernel's headers, cached by content
    /// (Provisioning.UserDrivers), added to the guest's initrd and insmodded at boot in this order, after the
    /// project's drivers and whatever <see cref="LoadDrivers"/> says. A module named like one of ours while ours
    /// load too, or like another of these, is an error.
    /// </summary>
    public IReadOnlyList<string> Drivers { get; init; } = [];

    /// <summary>Extra guest modules to modprobe at boot (e.g. snd-pcm).</summary>
    public IReadOnlyList<string> Modules { get; init; } = [];

    /// <summary>fd-backed shared guest RAM (default). Off: every DMA_MAP comes without an fd (message DMA).</summary>
    public bool SharedMemory { get; init; } = true;

    /// <summary>Guest RAM in MiB (default 512).</summary>
    public int MemoryMiB { get; init; } = 512;

    /// <summary>
    /// Boot behind an emulated Intel IOMMU (QemuCommandLine.ViommuDevice) with the guest's DMA remapping on in
    /// strict mode (<see cref="ViommuKernelArguments"/>): every buffer the driver maps becomes its own DMA_MAP at an
    /// IOVA the guest chose, and every unmap is a DMA_UNMAP before the guest's dma_unmap returns.
    /// </summary>
    public bool Viommu { get; init; }

    /// <summary>
    /// DMA remapping on (Debian's kernel leaves it off) and strict: an unmap flushes the IOTLB at once, not in batches.
    /// no_timer_check: with interrupt remapping on, Linux panics ("timer doesn't work through Interrupt-remapped
    /// IO-APIC") when its boot-time check of the timer interrupt misses ticks, which a TCG guest on a loaded host does;
    /// the check only tests the timer, so skipping it (as KVM guests do) changes nothing else.
    /// </summary>
    public static readonly IReadOnlyList<string> ViommuKernelArguments = ["intel_iommu=on", "iommu.strict=1", "no_timer_check"];

    /// <summary>KVM or TCG; Auto (default) follows $PCIEEMU_ACCEL, else KVM only where a real KVM module is loaded (<see cref="Qemu.Accelerator"/>).</summary>
    public AcceleratorChoice Accelerator { get; init; } = AcceleratorChoice.Auto;

    /// <summary>
    /// File (default): a batch session, the console in console.log and commands through the guest agent. Terminal: an
    /// interactive shell on this terminal (no agent: <see cref="GuestSession.RunAsync"/> is unavailable; wait with
    /// <see cref="GuestSession.WaitForExitAsync"/>).
    /// </summary>
    public ConsoleMode Console { get; init; } = ConsoleMode.File;

    /// <summary>From QEMU start to the agent's @@READY.</summary>
    public TimeSpan BootTimeout { get; init; } = TimeSpan.FromSeconds(180);

    /// <summary>How long a guest command may run when <see cref="GuestSession.RunAsync"/> is given no timeout (default 120 s).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Where sockets and logs go (default: a new /tmp/pcieemu-* folder).</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>Keep the work directory after a clean shutdown (it is always kept after a failure).</summary>
    public bool KeepWorkDirectory { get; init; }

    /// <summary>Options of every card's vfio-user server (with <see cref="HotPlug"/>, each also persists across clients).</summary>
    public VfioUserServerOptions ServerOptions { get; init; } = new();

    /// <summary>
    /// Per stream, bytes of transferred samples each card keeps so tests can assert on what the device played and
    /// captured (AudioStream.Runs). On by default here (a test harness); 0 keeps nothing, as a plain `serve` does.
    /// </summary>
    public long KeepSampleBytes { get; init; } = DefaultKeepSampleBytes;

    /// <summary>The default of <see cref="KeepSampleBytes"/>: 64 MiB per stream.</summary>
    public const long DefaultKeepSampleBytes = 64L << 20;

    /// <summary>Stream routes (spec §13) applied to every card, replacing the model files'.</summary>
    public IReadOnlyDictionary<string, string> Routes { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Record every card into DIR/card&lt;i&gt;.petrace (src/PcieEmu.Tracing/TRACE-FORMAT.md). Recording needs
    /// <see cref="SharedMemory"/>: a traced card cannot wait on message DMA.
    /// </summary>
    public string? TraceDirectory { get; init; }

    /// <summary>
    /// The cards may be hot-unplugged and plugged again (<see cref="GuestSession.Slots"/>): QEMU is the qemu-hotplug
    /// build (Debian's 11.1.3 aborts on device_del of a vfio-user device with MSI-X; provisioning applies the
    /// upstream fix, qemu/provision/README.md), and each card's server accepts the next client after one leaves.
    /// </summary>
    public bool HotPlug { get; init; }

    /// <summary>Appended to the guest kernel's command line, after the session's own arguments.</summary>
    public IReadOnlyList<string> ExtraKernelArguments { get; init; } = [];

    /// <summary>Appended to QEMU's command line, after everything the session builds (no quoting: one argument per entry).</summary>
    public IReadOnlyList<string> ExtraQemuArguments { get; init; } = [];

    /// <summary>How each rule of the driver checker counts (off, warning, violation); default: as the card declares.</summary>
    public CheckerPolicy CheckerPolicy { get; init; } = CheckerPolicy.Default;

    /// <summary>Also write every violation and warning as a JSON line into this file (for CI), or null.</summary>
    public string? ViolationLogPath { get; init; }
}
