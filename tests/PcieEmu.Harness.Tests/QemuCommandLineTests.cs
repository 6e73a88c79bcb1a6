using System.Text.Json;
using PcieEmu.Harness.Qemu;

namespace PcieEmu.Harness.Tests;

public sealed class QemuCommandLineTests
{
    private static QemuMachine Machine(bool shared = true, ConsoleMode console = ConsoleMode.File, bool viommu = false) => new()
    {
        Viommu = viommu,
        Accelerator = "tcg",
        Kernel = "/k/vmlinux",
        Initrd = "/k/initrd",
        KernelCommandLine = "console=ttyS0 quiet",
        SharedMemory = shared,
        Console = console,
        ConsoleLog = "/w/console.log",
        AgentSocket = "/w/agent.sock",
        ShareDirectory = "/w/share",
        QmpSocket = "/w/qmp.sock",
        VfioUserSockets = ["/w/vu0.sock", "/w/vu1.sock"],
    };

    private static string Joined(QemuMachine m) => string.Join(" ", QemuCommandLine.Build(m));

    [Fact]
    public void Shared_ram_is_an_fd_backed_memfd_with_share_on_so_dma_maps_carry_fds()
    {
        string line = Joined(Machine());
        line.Should().Contain("-machine q35,memory-backend=mem")
            .And.Contain("-object memory-backend-memfd,id=mem,size=512M,share=on")
            .And.Contain("-m 512M");
    }

    [Fact]
    public void Unshared_ram_has_no_memory_backend()
    {
        string line = Joined(Machine(shared: false));
        line.Should().Contain("-machine q35 ").And.NotContain("memory-backend");
    }

    [Fact]
    public void Each_card_gets_its_own_root_port_and_a_vfio_user_device_on_it()
    {
        var args = QemuCommandLine.Build(Machine()).ToList();
        var devices = args.Select((a, i) => (a, i)).Where(x => x.a == "-device").Select(x => args[x.i + 1]).ToList();

        devices.Should().Contain("pcie-root-port,id=rp0,chassis=1,slot=1").And.Contain("pcie-root-port,id=rp1,chassis=2,slot=2");
        var vfio = devices.Where(d => d.StartsWith('{')).Select(d => JsonDocument.Parse(d).RootElement).ToList();
        vfio.Should().HaveCount(2);
        vfio[1].GetProperty("driver").GetString().Should().Be("vfio-user-pci");
        vfio[1].GetProperty("bus").GetString().Should().Be("rp1");
        vfio[1].GetProperty("socket").GetProperty("path").GetString().Should().Be("/w/vu1.sock");
        vfio[1].GetProperty("socket").GetProperty("type").GetString().Should().Be("unix");
    }

    [Fact]
    public void Without_a_viommu_there_is_no_iommu_and_no_split_irqchip()
    {
        string line = Joined(Machine());
        line.Should().NotContain("intel-iommu").And.NotContain("kernel-irqchip");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_viommu_is_an_intel_iommu_in_caching_mode_ahead_of_every_pci_device(bool shared)
    {
        var args = QemuCommandLine.Build(Machine(shared, viommu: true)).ToList();
        string line = string.Join(" ", args);

        line.Should().Contain(shared ? "-machine q35,kernel-irqchip=split,memory-backend=mem" : "-machine q35,kernel-irqchip=split ",
            "interrupt remapping needs the split irqchip under KVM (TCG ignores it)");
        var devices = args.Select((a, i) => (a, i)).Where(x => x.a == "-device").Select(x => args[x.i + 1]).ToList();
        devices[0].Should().Be("intel-iommu,caching-mode=on,intremap=on", "QEMU forwards guest mappings to vfio devices only in caching mode");
    }

    [Fact]
    public void Qemu_dies_with_its_parent_and_never_reboots()
    {
        string line = Joined(Machine());
        line.Should().Contain("-run-with exit-with-parent=on").And.Contain("-no-reboot").And.Contain("-nodefaults");
    }

    [Fact]
    public void The_console_goes_to_a_file_in_batch_mode_and_to_the_terminal_interactively()
    {
        Joined(Machine()).Should().Contain("-serial file:/w/console.log");
        string interactive = Joined(Machine(console: ConsoleMode.Terminal));
        interactive.Should().Contain("-chardev stdio,id=console,signal=off").And.Contain("-serial chardev:console");
    }

    [Fact]
    public void Agent_share_and_qmp_are_wired()
    {
        string line = Joined(Machine());
        line.Should().Contain("-chardev socket,id=agent,path=/w/agent.sock")
            .And.Contain("virtserialport,chardev=agent,name=pcieemu.agent")
            .And.Contain("-virtfs local,path=/w/share,mount_tag=host,security_model=none,id=host")
            .And.Contain("-qmp unix:/w/qmp.sock,server=on,wait=off");
    }
}

public sealed class AcceleratorTests
{
    [Fact]
    public void An_explicit_choice_wins()
    {
        Accelerator.Resolve(AcceleratorChoice.Tcg).Should().Be("tcg");
        Accelerator.Resolve(AcceleratorChoice.Kvm).Should().Be("kvm");
    }

    [Fact]
    public void Auto_uses_kvm_only_when_a_real_kvm_module_is_loaded()
    {
        string? saved = Environment.GetEnvironmentVariable("PCIEEMU_ACCEL");
        try
        {
            Environment.SetEnvironmentVariable("PCIEEMU_ACCEL", null);
            bool real = Directory.Exists("/sys/module/kvm_intel") || Directory.Exists("/sys/module/kvm_amd");
            Accelerator.Resolve().Should().Be(real ? "kvm" : "tcg");

            Environment.SetEnvironmentVariable("PCIEEMU_ACCEL", "kvm");
            Accelerator.Resolve().Should().Be("kvm", "the environment overrides auto-detection");
        }
        finally
        {
            Environment.SetEnvironmentVariable("PCIEEMU_ACCEL", saved);
        }
    }
}
