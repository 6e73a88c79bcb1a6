namespace PcieEmu.Harness.Qemu;

/// <summary>Which QEMU accelerator a guest runs on.</summary>
public enum AcceleratorChoice
{
    /// <summary>$PCIEEMU_ACCEL (tcg or kvm) if set, else KVM where a real KVM module is loaded, else TCG.</summary>
    Auto,

    /// <summary>TCG: emulation, slow but available everywhere.</summary>
    Tcg,

    /// <summary>KVM: hardware virtualisation; QEMU fails to start without a usable /dev/kvm.</summary>
    Kvm,
}

/// <summary>
/// TCG unless a real KVM module (kvm_intel or kvm_amd) is loaded: /dev/kvm on the build machines is kvm_pvm,
/// which cannot run a stock kernel. $PCIEEMU_ACCEL (tcg|kvm) or an explicit choice overrides.
/// </summary>
public static class Accelerator
{
    /// <summary>The -accel value for <paramref name="choice"/>: "kvm" or "tcg".</summary>
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

    /// <summary>True when kvm_intel or kvm_amd is loaded (/sys/module), the KVM a stock guest kernel runs on.</summary>
    public static bool RealKvmLoaded() =>
        Directory.Exists("/sys/module/kvm_intel") || Directory.Exists("/sys/module/kvm_amd");
}
