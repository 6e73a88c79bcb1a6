using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Harness.Tests;

public sealed class GuestArtifactsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pcieemu-manifest-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }

    private string Manifest(string? drop = null, string drivers = "pcieemu_audio")
    {
        string qemu = Write("qemu", "#!/bin/sh\n");
        string kernel = Write("vmlinux", "ELF");
        string initrd = Write("initrd", "cpio");
        var lines = new Dictionary<string, string>
        {
            ["qemu"] = qemu, ["qemu_version"] = "QEMU emulator version 11.1.3", ["kernel"] = kernel, ["initrd"] = initrd,
            ["kabi"] = "6.1.0-56-amd64", ["kdir"] = "/headers", ["drivers"] = drivers, ["agent_port"] = "pcieemu.agent",
            ["share_mount"] = "/mnt/host", ["share_tag"] = "host",
        };
        if (drop is not null)
        {
            lines.Remove(drop);
        }

        return Write("manifest", string.Join("\n", lines.Select(kv => $"{kv.Key}={kv.Value}")) + "\n");
    }

    [Fact]
    public void A_complete_manifest_parses_including_values_with_spaces_and_the_driver_list()
    {
        var a = GuestArtifacts.Parse(Manifest(drivers: "a,b"));
        a.QemuVersion.Should().Be("QEMU emulator version 11.1.3");
        a.Drivers.Should().Equal("a", "b");
        a.KernelAbi.Should().Be("6.1.0-56-amd64");
    }

    [Fact]
    public void The_keys_a_user_driver_build_needs_are_read_and_absent_ones_are_null()
    {
        string path = Manifest();
        File.AppendAllText(path, "initrd_base=/c/guest/initrd-base.cpio\nkernel_package=linux-image-6.1.0-56-amd64=6.1.158-1\ncache=/c\n");
        var a = GuestArtifacts.Parse(path);
        a.InitrdBase.Should().Be("/c/guest/initrd-base.cpio");
        a.KernelPackage.Should().Be("linux-image-6.1.0-56-amd64=6.1.158-1");
        a.CacheDirectory.Should().Be("/c");

        var older = GuestArtifacts.Parse(Manifest());
        older.InitrdBase.Should().BeNull();
        older.CacheDirectory.Should().BeNull();
    }

    [Fact]
    public void An_empty_driver_list_is_no_drivers()
    {
        GuestArtifacts.Parse(Manifest(drivers: "")).Drivers.Should().BeEmpty();
    }

    [Fact]
    public void A_missing_key_is_a_provisioning_error_naming_the_key()
    {
        var act = () => GuestArtifacts.Parse(Manifest(drop: "kernel"));
        act.Should().Throw<ProvisioningException>().WithMessage("*lacks 'kernel'*");
    }

    [Fact]
    public void A_manifest_pointing_at_missing_files_says_the_cache_is_damaged()
    {
        string path = Manifest();
        File.Delete(Path.Combine(_dir.FullName, "initrd"));
        var act = () => GuestArtifacts.Parse(path);
        act.Should().Throw<ProvisioningException>().WithMessage("*does not exist*setup --force*");
    }
}
