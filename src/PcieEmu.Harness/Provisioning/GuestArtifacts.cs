namespace PcieEmu.Harness.Provisioning;

/// <summary>What provisioning produced (the manifest of qemu/provision/provision.sh): QEMU, kernel, initrd, drivers.</summary>
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

    public static GuestArtifacts Parse(string manifestPath)
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

public sealed class ProvisioningException(string message) : Exception(message);

/// <summary>One progress line of provisioning: step i of n.</summary>
public readonly record struct ProvisionStep(int Index, int Count, string Text);
