using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Harness.Tests;

/// <summary>
/// The user driver build without a kernel: a stand-in `make` that behaves like Kbuild's M= build (it writes into the
/// directory it is given, prints diagnostics with that directory's paths, produces a .ko) exercises the cache, the
/// scratch copy, the path rewriting and every failure. The real build runs in the integration tests.
/// </summary>
public sealed class UserDriversTests : IDisposable
{
    private const string Abi = "6.1.0-57-amd64";

    private readonly string _dir = Directory.CreateTempSubdirectory("pcieemu-user-drivers-").FullName;

    public UserDriversTests()
    {
        Cache = Directory.CreateDirectory(Path.Combine(_dir, "cache", "user-drivers")).FullName;
        Source = Directory.CreateDirectory(Path.Combine(_dir, "src", "mydrv")).FullName;
        File.WriteAllText(Path.Combine(Source, "Kbuild"), "obj-m := mydrv.o\n");
        File.WriteAllText(Path.Combine(Source, "mydrv.c"), "int main;\n");
        Ko(Path.Combine(_dir, "good.ko"), $"{Abi} SMP preempt mod_unload modversions ");
    }

    private string Cache { get; }

    private string Source { get; }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void Ko(string path, string vermagic) =>
        File.WriteAllBytes(path, KernelModuleFiles.Module("", "name=mydrv", $"vermagic={vermagic}"));

    /// <summary>
    /// A `make -C KDIR M=DIR -jN modules` stand-in: it records its M=, prints <paramref name="stderr"/> with $M
    /// expanded, copies <paramref name="ko"/> (if any) to DIR/mydrv.ko, lists it in modules.order and exits
    /// <paramref name="exit"/>.
    /// </summary>
    private KernelBuildEnvironment Make(string stderr = "", string? ko = "good.ko", int exit = 0, string identity = "kabi=6.1.0-57-amd64\n")
    {
        string script = Path.Combine(_dir, $"make-{Guid.NewGuid():N}");
        File.WriteAllText(script, $$"""
            #!/bin/bash
            for a; do case $a in M=*) M=${a#M=};; esac; done
            echo "$M" >> '{{_dir}}/make-calls'
            echo "make: Entering directory '/kdir'"
            echo "  CC [M]  $M/mydrv.o"
            printf '%s' "{{stderr}}" | sed "s|\$M|$M|g" >&2
            {{(ko is null ? "" : $"cp '{Path.Combine(_dir, ko)}' \"$M/mydrv.ko\"; echo \"$M/mydrv.ko\" > \"$M/modules.order\"")}}
            touch "$M/mydrv.o"
            exit {{exit}}
            """);
        File.SetUnixFileMode(script, (UnixFileMode)0x1ED);
        return new KernelBuildEnvironment("/kdir", Abi, script, "/usr/bin/gcc-12", identity);
    }

    private int MakeCalls => File.Exists(Path.Combine(_dir, "make-calls")) ? File.ReadAllLines(Path.Combine(_dir, "make-calls")).Length : 0;

    private Task<UserDriverBuild> Build(KernelBuildEnvironment make, string? source = null) =>
        UserDrivers.BuildAsync(UserDrivers.Plan(DriverSource.Read(source ?? Source), make, Cache), make);

    private List<string> SourceFiles() => [.. Directory.EnumerateFileSystemEntries(Source, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task A_build_runs_in_a_scratch_copy_is_stored_under_its_key_and_leaves_the_users_directory_alone()
    {
        var before = SourceFiles();
        var make = Make();
        var plan = UserDrivers.Plan(DriverSource.Read(Source), make, Cache);
        plan.Cached.Should().BeFalse();

        var build = await UserDrivers.BuildAsync(plan, make);

        build.Cached.Should().BeFalse();
        build.CacheDirectory.Should().Be(Path.Combine(Cache, plan.Key)).And.Be(plan.CacheDirectory);
        build.Modules.Should().ContainSingle().Which.Should().Be(new UserDriverModule("mydrv", Path.Combine(plan.CacheDirectory, "mydrv.ko")));
        File.ReadAllBytes(build.Modules[0].Path).Should().Equal(File.ReadAllBytes(Path.Combine(_dir, "good.ko")));
        File.Exists(Path.Combine(plan.CacheDirectory, ".complete")).Should().BeTrue();
        SourceFiles().Should().Equal(before, "no object file or anything else is written into the user's directory");
        File.ReadAllLines(Path.Combine(_dir, "make-calls")).Should().ContainSingle().Which.Should().StartWith(Path.Combine(Cache, $".tmp-{plan.Key}-"));
        Directory.EnumerateDirectories(Cache).Select(Path.GetFileName).Should().Equal([plan.Key], "the scratch copy is gone");
    }

    [Fact]
    public async Task Unchanged_sources_come_from_the_cache_and_a_changed_file_compiler_or_kernel_builds_again()
    {
        var make = Make();
        var first = await Build(make);

        var again = await Build(make);
        again.Cached.Should().BeTrue();
        again.CacheDirectory.Should().Be(first.CacheDirectory);
        MakeCalls.Should().Be(1, "unchanged sources do not build again");

        string copy = Path.Combine(_dir, "elsewhere");
        Directory.CreateDirectory(copy);
        foreach (string f in Directory.GetFiles(Source))
        {
            File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        }

        (await Build(make, copy)).Cached.Should().BeTrue("the key is the contents, not the path");

        File.AppendAllText(Path.Combine(Source, "mydrv.c"), "int more;\n");
        var changed = await Build(make);
        changed.Cached.Should().BeFalse();
        changed.CacheDirectory.Should().NotBe(first.CacheDirectory);

        var otherCompiler = await Build(Make(identity: "kabi=6.1.0-57-amd64\ncc=/usr/bin/gcc-12 gcc-12 (Debian 12.2.0-14+deb12u2) 12.2.0\n"));
        otherCompiler.Cached.Should().BeFalse("another compiler or kernel is another build");
        MakeCalls.Should().Be(3);
    }

    [Fact]
    public async Task Warnings_are_kept_with_paths_into_the_users_sources_and_shown_again_from_the_cache_for_another_path()
    {
        var make = Make(stderr: "$M/mydrv.c: In function 'probe':\n$M/mydrv.c:42:5: warning: unused variable 'x' [-Wunused-variable]\n   42 |     int x;\n      |     ^\n");

        var build = await Build(make);

        build.Warnings.Should().Be(1);
        build.Diagnostics.Should().Equal(
            $"{Source}/mydrv.c: In function 'probe':",
            $"{Source}/mydrv.c:42:5: warning: unused variable 'x' [-Wunused-variable]",
            "   42 |     int x;",
            "      |     ^");
        File.ReadAllText(build.LogPath).Should().Contain($"{Source}/mydrv.c:42:5: warning").And.Contain("  CC [M]  " + Source + "/mydrv.o");

        string moved = Path.Combine(_dir, "moved", "mydrv");
        Directory.CreateDirectory(Path.GetDirectoryName(moved)!);
        Directory.Move(Source, moved);
        var cached = await Build(make, moved);
        cached.Cached.Should().BeTrue();
        cached.Warnings.Should().Be(1);
        cached.Diagnostics[1].Should().Be($"{moved}/mydrv.c:42:5: warning: unused variable 'x' [-Wunused-variable]");
    }

    [Fact]
    public async Task A_failed_build_is_one_line_with_the_first_error_in_the_users_file_and_the_log_carries_the_compilers_lines_and_is_not_cached()
    {
        var make = Make(stderr: "$M/mydrv.c:7:1: warning: no return\n$M/mydrv.c:9:3: error: expected ';' before '}' token\nmake: *** [$M] Error 2\n", ko: null, exit: 2);

        var build = () => Build(make);

        var e = (await build.Should().ThrowAsync<DriverBuildException>()).Which;
        e.Message.Should().Be($"driver {Source} failed to build: {Source}/mydrv.c:9:3: error: expected ';' before '}}' token; log: {e.LogPath}");
        e.LogPath.Should().StartWith(Path.Combine(Cache, "logs", "mydrv-"));
        e.Diagnostics.Should().Equal(
            [$"{Source}/mydrv.c:7:1: warning: no return", $"{Source}/mydrv.c:9:3: error: expected ';' before '}}' token", $"make: *** [{Source}] Error 2"],
            "the compiler's own lines go with the error, in the user's paths");
        File.ReadAllText(e.LogPath!).Should().Contain($"{Source}/mydrv.c:9:3: error").And.NotContain("/src/mydrv.c");
        Directory.EnumerateDirectories(Cache).Select(Path.GetFileName).Should().Equal(["logs"], "nothing is cached and the scratch copy is gone");
        (await build.Should().ThrowAsync<DriverBuildException>()).Which.LogPath.Should().Be(e.LogPath);
        MakeCalls.Should().Be(2, "a failure is not cached");
    }

    [Fact]
    public async Task No_ko_and_a_foreign_vermagic_are_each_one_line()
    {
        var none = () => Build(Make(ko: null));
        (await none.Should().ThrowAsync<DriverBuildException>())
            .WithMessage($"driver {Source} built no .ko file (does its Kbuild or Makefile set obj-m?); log: *");

        Ko(Path.Combine(_dir, "foreign.ko"), "6.12.0-1-amd64 SMP preempt mod_unload ");
        var foreign = () => Build(Make(ko: "foreign.ko"));
        (await foreign.Should().ThrowAsync<DriverBuildException>())
            .WithMessage($"driver {Source}: mydrv.ko has vermagic '6.12.0-1-amd64 SMP preempt mod_unload', but the guest kernel is {Abi}; the guest would refuse it*; log: *");
        Directory.EnumerateDirectories(Cache).Select(Path.GetFileName).Should().Equal("logs");
    }

    [Fact]
    public async Task A_damaged_cache_entry_is_built_again_and_replaced()
    {
        var make = Make();
        var first = await Build(make);
        File.Delete(Path.Combine(first.CacheDirectory, ".complete"));

        UserDrivers.Plan(DriverSource.Read(Source), make, Cache).Cached.Should().BeFalse();
        var again = await Build(make);

        again.Cached.Should().BeFalse();
        File.Exists(Path.Combine(again.CacheDirectory, ".complete")).Should().BeTrue();
        MakeCalls.Should().Be(2);
    }

    [Fact]
    public void Module_names_may_not_clash_with_each_other_or_with_our_driver_while_ours_loads()
    {
        static UserDriverBuild B(string dir, params string[] names) =>
            new(dir, "/c/" + dir, [.. names.Select(n => new UserDriverModule(n, $"/c/{n}.ko"))], [], 0, false, "/c/log", TimeSpan.Zero);

        UserDrivers.CheckNames([B("/a", "hello"), B("/b", "other")], ["pcieemu_audio"], loadProjectDrivers: true);
        UserDrivers.CheckNames([B("/a", "pcieemu_audio")], ["pcieemu_audio"], loadProjectDrivers: false);

        var ours = () => UserDrivers.CheckNames([B("/a", "pcieemu-audio")], ["pcieemu_audio"], loadProjectDrivers: true);
        ours.Should().Throw<DriverBuildException>()
            .WithMessage("driver /a builds pcieemu-audio.ko, which is the name of the project's own driver, loaded too; leave ours out (boot --no-driver) to load yours instead");
        var twice = () => UserDrivers.CheckNames([B("/a", "hello"), B("/b", "hello")], [], loadProjectDrivers: true);
        twice.Should().Throw<DriverBuildException>().WithMessage("drivers /a and /b both build hello.ko; the guest can load only one module of a name");
    }

    [Fact]
    public void The_initrd_is_the_base_then_an_aligned_newc_archive_with_the_modules_under_lib_modules_pcieemu()
    {
        string baseInitrd = Path.Combine(_dir, "base.cpio");
        using (var s = File.Create(baseInitrd))
        {
            var a = new NewcArchive(s);
            a.AddDirectory("lib", DateTime.UnixEpoch);
            a.AddFile("init", "#!/bin/sh\n"u8, DateTime.UnixEpoch, (UnixFileMode)0x1ED);
            a.Finish();
            s.Write(new byte[3]); // a base whose length is not a multiple of 4
        }

        Ko(Path.Combine(_dir, "a.ko"), Abi + " ");
        File.WriteAllText(Path.Combine(_dir, "b.ko"), "second");
        var build = new UserDriverBuild("/src", _dir, [new("a", Path.Combine(_dir, "a.ko")), new("b", Path.Combine(_dir, "b.ko"))], [], 0, false, "", TimeSpan.Zero);
        string initrd = Path.Combine(_dir, "initrd");

        UserDrivers.WriteInitrd(baseInitrd, [build], initrd);

        byte[] bytes = File.ReadAllBytes(initrd);
        byte[] baseBytes = File.ReadAllBytes(baseInitrd);
        bytes[..baseBytes.Length].Should().Equal(baseBytes, "the base comes first, unchanged");
        (bytes.Length % 4).Should().Be(0);
        var entries = KernelModuleFiles.ReadNewc(bytes);
        entries.Select(e => e.Name).Should().Equal("lib", "init", "TRAILER!!!", "lib", "lib/modules", "lib/modules/pcieemu",
            "lib/modules/pcieemu/a.ko", "lib/modules/pcieemu/b.ko", "TRAILER!!!");
        entries[3].Offset.Should().Be(baseBytes.Length + 1, "one zero byte brings the second archive to a 4-byte boundary");
        entries[6].Data.Should().Equal(File.ReadAllBytes(Path.Combine(_dir, "a.ko")));
        entries[6].Mode.Should().Be(0x81A4u, "a regular file, 0644");
        entries[5].Mode.Should().Be(0x41EDu, "a directory, 0755");
        entries[7].Data.Should().Equal("second"u8.ToArray());
        entries.Skip(3).Take(5).Select(e => e.Inode).Should().OnlyHaveUniqueItems();
        entries[6].Mtime.Should().Be((uint)(File.GetLastWriteTimeUtc(Path.Combine(_dir, "a.ko")) - DateTime.UnixEpoch).TotalSeconds);
    }

    [Fact]
    public void The_key_is_16_hex_digits_of_the_sources_and_the_environment()
    {
        string key = UserDrivers.Key("abc", "kabi=1\n");
        key.Should().MatchRegex("^[0-9a-f]{16}$");
        UserDrivers.Key("abc", "kabi=1\n").Should().Be(key);
        UserDrivers.Key("abd", "kabi=1\n").Should().NotBe(key);
        UserDrivers.Key("abc", "kabi=2\n").Should().NotBe(key);
    }
}
