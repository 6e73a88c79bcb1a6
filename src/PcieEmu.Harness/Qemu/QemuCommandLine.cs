using System.Globalization;
using System.Text.Json;

namespace PcieEmu.Harness.Qemu;

/// <summary>Where the guest's serial console goes.</summary>
public enum ConsoleMode
{
    /// <summary>To a file (batch runs; attached to every failure report).</summary>
    File,

    /// <summary>To this terminal, interactively (Ctrl-C reaches the guest, not QEMU).</summary>
    Terminal,
}

/// <summary>Everything that shapes the QEMU command line of a guest session.</summary>
internal sealed record QemuMachine
{
    public required string Accelerator { get; init; }

    public required string Kernel { get; init; }

    public required string Initrd { get; init; }

    public required string KernelCommandLine { get; init; }

    public int MemoryMiB { get; init; } = 512;

    /// <summary>fd-backed shared RAM (memfd, share=on): DMA_MAP then carries fds. Off: no fds, message DMA only.</summary>
    public bool SharedMemory { get; init; } = true;

    public ConsoleMode Console { get; init; } = ConsoleMode.File;

    public string? ConsoleLog { get; init; }

    public string? AgentSocket { get; init; }

    public string AgentPortName { get; init; } = "pcieemu.agent";

    public string? ShareDirectory { get; init; }

    public string ShareTag { get; init; } = "host";

    public string? QmpSocket { get; init; }

    /// <summary>One vfio-user-pci device per socket, each behind its own pcie-root-port.</summary>
    public IReadOnlyList<string> VfioUserSockets { get; init; } = [];

    /// <summary>
    /// An emulated Intel IOMMU in front of the devices (<see cref="QemuCommandLine.ViommuDevice"/>): the guest maps each DMA buffer
    /// into an IOVA space of its own and QEMU sends one DMA_MAP/DMA_UNMAP per IOMMU mapping instead of mapping all RAM.
    /// </summary>
    public bool Viommu { get; init; }

    /// <summary>Milliseconds QEMU waits for each vfio-user reply (x-msg-timeout).</summary>
    public int VfioUserTimeoutMs { get; init; } = 5000;

    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
}

internal static class QemuCommandLine
{
    /// <summary>
    /// The vIOMMU for vfio-user-pci. caching-mode=on makes the guest flush its IOTLB after every map as well as every
    /// unmap, which is how QEMU learns of mappings to forward (without it QEMU refuses to realize a vfio device behind
    /// the IOMMU). intremap=on (interrupt remapping) needs kernel-irqchip=split under KVM; under TCG QEMU forwards the
    /// machine's kernel-irqchip only to the KVM accelerator, so the same line works on both.
    /// </summary>
    public const string ViommuDevice = "intel-iommu,caching-mode=on,intremap=on";

    public static IReadOnlyList<string> Build(QemuMachine m)
    {
        var a = new List<string>
        {
            "-accel", m.Accelerator,
            "-nodefaults", "-display", "none", "-no-reboot",
            "-run-with", "exit-with-parent=on",
            "-m", $"{m.MemoryMiB}M",
        };
        string machine = "q35" + (m.Viommu ? ",kernel-irqchip=split" : "");
        if (m.SharedMemory)
        {
            a.AddRange(["-machine", $"{machine},memory-backend=mem", "-object", $"memory-backend-memfd,id=mem,size={m.MemoryMiB}M,share=on"]);
        }
        else
        {
            a.AddRange(["-machine", machine]);
        }

        if (m.Viommu)
        {
            a.AddRange(["-device", ViommuDevice]); // before any PCI device it translates for
        }

        a.AddRange(["-kernel", m.Kernel, "-initrd", m.Initrd, "-append", m.KernelCommandLine]);
        if (m.Console == ConsoleMode.Terminal)
        {
            a.AddRange(["-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console"]);
        }
        else
        {
            a.AddRange(["-serial", $"file:{m.ConsoleLog ?? throw new ArgumentException("ConsoleLog is required for ConsoleMode.File")}"]);
        }

        if (m.AgentSocket is not null)
        {
            a.AddRange(["-device", "virtio-serial-pci", "-chardev", $"socket,id=agent,path={m.AgentSocket}",
                "-device", $"virtserialport,chardev=agent,name={m.AgentPortName}"]);
        }

        if (m.ShareDirectory is not null)
        {
            a.AddRange(["-virtfs", $"local,path={m.ShareDirectory},mount_tag={m.ShareTag},security_model=none,id={m.ShareTag}"]);
        }

        if (m.QmpSocket is not null)
        {
            a.AddRange(["-qmp", $"unix:{m.QmpSocket},server=on,wait=off"]);
        }

        for (int i = 0; i < m.VfioUserSockets.Count; i++)
        {
            a.AddRange(["-device", string.Create(CultureInfo.InvariantCulture, $"pcie-root-port,id=rp{i},chassis={i + 1},slot={i + 1}")]);
            a.AddRange(["-device", VfioUserDevice($"vu{i}", $"rp{i}", m.VfioUserSockets[i], m.VfioUserTimeoutMs)]);
        }

        a.AddRange(m.ExtraArguments);
        return a;
    }

    /// <summary>The JSON -device / device_add argument of a vfio-user-pci device.</summary>
    public static string VfioUserDevice(string id, string bus, string socket, int timeoutMs) =>
        JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["driver"] = "vfio-user-pci",
            ["id"] = id,
            ["bus"] = bus,
            ["x-msg-timeout"] = timeoutMs,
            ["socket"] = new Dictionary<string, string> { ["path"] = socket, ["type"] = "unix" },
        });
}
