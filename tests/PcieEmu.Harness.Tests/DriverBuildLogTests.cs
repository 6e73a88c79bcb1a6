using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Harness.Tests;

/// <summary>A driver build's output as a person sees it: paths into their sources, no make chatter, the first problem of a failure.</summary>
public sealed class DriverBuildLogTests
{
    private const string Scratch = "/cache/user-drivers/.tmp-1a904f9a838d826b-27575-475ab9/src";
    private const string Source = "/home/me/mydrv";
    private const string Kdir = "/cache/guest-2449c978a12a62ed/headers/usr/src/linux-headers-6.1.0-57-amd64";

    /// <summary>A failed build of 6.1's Kbuild, as make prints it (stdout and stderr together).</summary>
    private static readonly string[] Failed =
    [
        $"make: Entering directory '{Kdir}'",
        $"  CC [M]  {Scratch}/hello.o",
        $"{Scratch}/hello.c: In function 'hello_init':",
        $"{Scratch}/hello.c:15:31: error: 'oops' undeclared (first use in this function)",
        "   15 |         int unused_for_test = oops;",
        "      |                               ^~~~",
        $"{Scratch}/hello.c:15:31: note: each undeclared identifier is reported only once for each function it appears in",
        $"{Scratch}/hello.c:15:13: warning: unused variable 'unused_for_test' [-Wunused-variable]",
        $"make[1]: *** [{Kdir}/../linux-headers-6.1.0-57-common/scripts/Makefile.build:255: {Scratch}/hello.o] Error 1",
        $"make: *** [{Kdir}/../linux-headers-6.1.0-57-common/Makefile:2065: {Scratch}] Error 2",
        $"make: Leaving directory '{Kdir}'",
    ];

    private static List<string> Rewritten(IEnumerable<string> lines) => [.. lines.Select(l => DriverBuildLog.Rewrite(l, Scratch, Source))];

    [Fact]
    public void Paths_in_the_scratch_copy_become_paths_in_the_users_directory_and_nothing_else_changes()
    {
        DriverBuildLog.Rewrite($"{Scratch}/sub/regs.h:3:9: warning: \"X\" redefined", Scratch, Source)
            .Should().Be($"{Source}/sub/regs.h:3:9: warning: \"X\" redefined");
        DriverBuildLog.Rewrite($"make: *** [{Kdir}/Makefile:2065: {Scratch}] Error 2", Scratch, Source)
            .Should().Be($"make: *** [{Kdir}/Makefile:2065: {Source}] Error 2", "kernel header paths are real paths already");
        Rewritten(Failed).Should().NotContain(l => l.Contains(".tmp-", StringComparison.Ordinal));
    }

    [Fact]
    public void The_first_problem_of_a_failed_build_is_its_first_compiler_error()
    {
        DriverBuildLog.FirstProblem(Rewritten(Failed))
            .Should().Be($"{Source}/hello.c:15:31: error: 'oops' undeclared (first use in this function)");
    }

    [Fact]
    public void Without_a_compiler_error_the_first_problem_is_modposts_then_a_warning_then_makes_failure_then_the_last_line()
    {
        DriverBuildLog.FirstProblem(["  MODPOST x", "ERROR: modpost: \"missing_symbol\" [/home/me/mydrv/hello.ko] undefined!", "make: *** [Makefile:1] Error 2"])
            .Should().StartWith("ERROR: modpost: \"missing_symbol\"");
        DriverBuildLog.FirstProblem([$"{Source}/Kbuild:2: warning: odd", "make: *** [x] Error 2"]).Should().Be($"{Source}/Kbuild:2: warning: odd");
        DriverBuildLog.FirstProblem(["make[1]: *** No rule to make target 'x.o'.  Stop."]).Should().StartWith("make[1]: *** No rule");
        DriverBuildLog.FirstProblem(["something", "went wrong  ", ""]).Should().Be("went wrong");
        DriverBuildLog.FirstProblem([]).Should().BeNull();
    }

    [Fact]
    public void Diagnostics_keep_the_compilers_lines_and_drop_makes_and_kbuilds_chatter()
    {
        string[] warned =
        [
            $"make: Entering directory '{Kdir}'",
            $"  CC [M]  {Source}/hello.o",
            $"{Source}/hello.c: In function 'hello_init':",
            $"{Source}/hello.c:4:13: warning: unused variable 'x' [-Wunused-variable]",
            "    4 |         int x;",
            "      |             ^",
            $"  MODPOST {Source}/Module.symvers",
            "WARNING: modpost: missing MODULE_LICENSE() in /home/me/mydrv/hello.o",
            $"  LD [M]  {Source}/hello.ko",
            $"  BTF [M] {Source}/hello.ko",
            $"Skipping BTF generation for {Source}/hello.ko due to unavailability of vmlinux",
            "",
            $"make: Leaving directory '{Kdir}'",
        ];

        var diagnostics = DriverBuildLog.Diagnostics(warned);

        diagnostics.Should().Equal(warned[2], warned[3], warned[4], warned[5], warned[7]);
        DriverBuildLog.CountWarnings(diagnostics).Should().Be(2);
        DriverBuildLog.Diagnostics(warned.Where(l => !l.Contains("warning", StringComparison.OrdinalIgnoreCase) && !l.Contains('|') && !l.Contains("In function", StringComparison.Ordinal)))
            .Should().BeEmpty("a clean build says nothing");
    }
}
