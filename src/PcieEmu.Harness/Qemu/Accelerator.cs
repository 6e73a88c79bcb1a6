namespace PcieEmu.Harness.Qemu;

public enum AcceleratorChoice
{
    Auto,
    Tcg,
    Kvm,
}

/// <summary>
/// TCG unless a real KVM module (kvm_intel or kvm_amd) is loaded: /dev/kvm on the build machines is kvm_pvm,
/// which cannot run a stock kernel. $PCIEEMU_ACCEL (tcg|kvm) or an explicit choice overrides.
/// </summary>
public static class Accelerator
{
    public static string Resolve(AcceleratorChoice choice = AcceleratorChoice.Auto)
    {
        if (choice == AcceleratorChoice.Auto
            && Enum.TryParse<AcceleratorChoice>(Environment.GetEnvironmentVariable("PCIEEMU_ACCEL"), ignoreCase: true, out var env))
        {
            choice = env;
        }

        return choice switch
        {
            AcceleratorChoice.Tcg => "tcg",
            AcceleratorChoice.Kvm => "kvm",
            _ => RealKvmLoaded() ? "kvm" : "tcg",
        };
    }

    public static bool RealKvmLoaded() =>
        Directory.Exists("/sys/module/kvm_intel") || Directory.Exists("/sys/module/kvm_amd");
}
