using System.CommandLine;
using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Cli.Commands;

/// <summary>`pcieemu setup [--force]`: provision QEMU, the guest and the drivers into the cache.</summary>
internal static class SetupCommand
{
    public static Command Create()
    {
        var force = new Option<bool>("--force") { Description = "Rebuild every stage even if cached" };
        var command = new Command("setup", "Provision QEMU 11.1 (private sysroot), the guest kernel and initramfs, and build the guest drivers") { force };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var artifacts = await ProgressDisplay.RunAsync("setup", p => Provisioner.EnsureAsync(p, parse.GetValue(force), cancellationToken: ct));
                Console.WriteLine($"qemu:    {artifacts.QemuVersion}");
                Console.WriteLine($"         {artifacts.Qemu}");
                Console.WriteLine($"kernel:  {artifacts.KernelAbi} ({artifacts.Kernel})");
                Console.WriteLine($"initrd:  {artifacts.Initrd}");
                Console.WriteLine($"drivers: {(artifacts.Drivers.Count == 0 ? "(none)" : string.Join(", ", artifacts.Drivers))}");
                Console.WriteLine($"accel:   {PcieEmu.Harness.Qemu.Accelerator.Resolve()}");
                return 0;
            }
            catch (ProvisioningException e)
            {
                Console.Error.WriteLine($"setup: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
