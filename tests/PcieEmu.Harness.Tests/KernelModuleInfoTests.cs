using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Harness.Tests;

/// <summary>A built module's .modinfo (its vermagic decides whether the guest kernel takes it) and the headers' compiler.</summary>
public sealed class KernelModuleInfoTests
{
    private const string Abi = "6.1.0-57-amd64";

    [Fact]
    public void The_modinfo_section_is_read_and_a_lookalike_string_elsewhere_is_not()
    {
        byte[] ko = KernelModuleFiles.Module("vermagic=5.10.0 SMP mod_unload \0",
            "license=GPL", "depends=snd-pcm,snd", "name=hello", $"vermagic={Abi} SMP preempt mod_unload modversions ");

        var info = KernelModuleInfo.Parse(ko, "hello.ko");

        KernelModuleInfo.Get(info, "vermagic").Should().Be($"{Abi} SMP preempt mod_unload modversions ");
        KernelModuleInfo.Get(info, "name").Should().Be("hello");
        KernelModuleInfo.Get(info, "depends").Should().Be("snd-pcm,snd");
        KernelModuleInfo.Get(info, "alias").Should().BeNull();
    }

    [Fact]
    public void A_file_that_is_not_an_elf_module_is_one_clear_error()
    {
        var text = () => KernelModuleInfo.Parse("not an ELF file at all, just text, long enough to have a header........"u8, "x.ko");
        text.Should().Throw<DriverBuildException>().WithMessage("x.ko is not a 64-bit little-endian ELF kernel module");

        byte[] truncated = KernelModuleFiles.Module("", "name=x")[..80];
        var cut = () => KernelModuleInfo.Parse(truncated, "x.ko");
        cut.Should().Throw<DriverBuildException>().WithMessage("x.ko is not a 64-bit little-endian ELF kernel module (bad section headers)");
    }

    [Theory]
    [InlineData(Abi + " SMP preempt mod_unload modversions ", null)]
    [InlineData("6.1.0-57-amd64-rt SMP preempt_rt mod_unload ", "has vermagic '6.1.0-57-amd64-rt SMP preempt_rt mod_unload', but the guest kernel is 6.1.0-57-amd64*")]
    [InlineData("6.12.0-1-amd64 SMP preempt mod_unload modversions ", "has vermagic '6.12.0-1-amd64*', but the guest kernel is 6.1.0-57-amd64; the guest would refuse it (was it built against other kernel headers?)")]
    [InlineData(null, "has no vermagic*")]
    public void Only_the_guest_kernels_vermagic_passes(string? vermagic, string? problem)
    {
        string? why = KernelModuleInfo.VermagicProblem(vermagic, Abi);
        if (problem is null)
        {
            why.Should().BeNull();
        }
        else
        {
            why.Should().Match(problem);
        }
    }

    [Fact]
    public void The_compiler_is_the_one_the_headers_kernelvariables_name_else_gcc_12()
    {
        const string variables = "ARCH = x86\nCC = $(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-12\nLD = ld\n";
        KernelBuildEnvironment.CompilerOf(variables).Should().Be("gcc-12");
        KernelBuildEnvironment.CompilerOf("CC = $(CROSS_COMPILE)gcc-14\n").Should().Be("gcc-14");
        KernelBuildEnvironment.CompilerOf("").Should().Be("gcc-12");
    }
}
