namespace PcieEmu.Harness.Provisioning;

/// <summary>What provisioning produced (the manifest of qemu/provision/provision.sh): QEMU, kernel, initrd, drivers.</summary>
/// <param name="Qemu">The QEMU binary.</param>
/// <param name="QemuVersion">Its version ("11.1.3").</param>
/// <param name="Kernel">The guest kernel image.</param>
/// <param name="Initrd">The guest initramfs, with the project's drivers.</param>
/// <param name="KernelAbi">The guest kernel's release ("6.1.0-57-amd64"): what a module's vermagic must start with.</param>
/// <param name="KernelHeaders">The kernel headers directory user drivers are built against.</param>
/// <param name="Drivers">The project's driver modules in the initramfs, by name.</param>
/// <param name="AgentPort">The virtio-serial port name the guest agent opens.</param>
/// <param name="ShareMount">Where the guest mounts the host share ("/mnt/host").</param>
/// <param name="ShareTag">The 9p mount tag of the share.</param>
/// <param name="ManifestPath">The manifest these were read from.</param>
public sealed record GuestArtifacts(
    string Qemu,
    string QemuVersion,
    string Kernel,
    string Initrd,
    string KernelAbi,
    string KernelHeaders,
    IReadOnlyList<string> Drivers,
    string AgentPort,
    string ShareMount,
    string ShareTag,
    string ManifestPath)
{
    /// <summary>
    /// A QEMU that survives device_del of a vfio-user-pci device with MSI-X (provisioning's qemu-hotplug stage: the
    /// upstream fix applied to Debian's 11.1.3), or null when the stage was not built.
    /// </summary>
    public string? QemuHotplug { get; init; }

    /// <summary>How <see cref="QemuHotplug"/> got the fix: "patched" or "already-fixed".</summary>
    public string? QemuHotplugPatch { get; init; }

    /// <summary>The initramfs without the project's drivers (manifest key initrd_base), or null in an older manifest.</summary>
    public string? InitrdBase { get; init; }

    /// <summary>The guest kernel's Debian package=version (manifest key kernel_package), or null.</summary>
    public string? KernelPackage { get; init; }

    /// <summary>The provisioning cache directory (manifest key cache), or null.</summary>
    public string? CacheDirectory { get; init; }

    internal static GuestArtifacts Parse(string manifestPath)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadAllLines(manifestPath))
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                values[line[..eq]] = line[(eq + 1)..];
            }
        }

        string? Optional(string key) => values.TryGetValue(key, out var v) && v.Length > 0 ? v : null;

        string Get(string key) => values.TryGetValue(key, out var v) && v.Length > 0
            ? v
            : throw new ProvisioningException($"manifest {manifestPath} lacks '{key}'");

        var artifacts = new GuestArtifacts(
            Get("qemu"),
            Get("qemu_version"),
            Get("kernel"),
            Get("initrd"),
            Get("kabi"),
            Get("kdir"),
            values.TryGetValue("drivers", out var d) && d.Length > 0 ? d.Split(',') : [],
            Get("agent_port"),
            Get("share_mount"),
            Get("share_tag"),
            manifestPath)
        {
            QemuHotplug = values.TryGetValue("qemu_hotplug", out var h) && h.Length > 0 ? h : null,
            QemuHotplugPatch = values.TryGetValue("qemu_hotplug_patch", out var hp) && hp.Length > 0 ? hp : null,
            InitrdBase = Optional("initrd_base"),
            KernelPackage = Optional("kernel_package"),
            CacheDirectory = Optional("cache"),
        };
        foreach (var f in new[] { artifacts.Qemu, artifacts.Kernel, artifacts.Initrd, artifacts.QemuHotplug }.OfType<string>())
        {
            if (!File.Exists(f))
            {
                throw new ProvisioningException($"manifest {manifestPath} names {f}, which does not exist (cache damaged? run `pcieemu setup --force`)");
            }
        }

        return artifacts;
    }
}

/// <summary>Provisioning failed (the script, a download, a build) or its manifest names files that are gone; the message says what, with the log to read.</summary>
/// <param name="message">What failed.</param>
public class ProvisioningException(string message) : Exception(message);

/// <summary>One progress line of a long operation (provisioning, a demo, a bench): step i of n.</summary>
/// <param name="Index">The step, from 1.</param>
/// <param name="Count">Steps in all (the last has <paramref name="Index"/> = Count).</param>
/// <param name="Text">What the step does, for a progress line.</param>
public readonly record struct ProvisionStep(int Index, int Count, string Text);
