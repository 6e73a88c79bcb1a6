using System.Text.RegularExpressions;
using PcieEmu.Devices;

namespace PcieEmu.Integration.Tests;

/// <summary>
/// `pcieemu boot --driver DIR` as a process, with the real kernel build and the real guest: a user's module is built
/// against the guest headers, loaded beside ours or instead of it, built once per content; its warnings point at the
/// user's files; every bad input is one line and a non-zero exit. Each test works on its own copy of the fixture
/// (Drivers/hello) with a unique greeting, so the shared cache never hands it another run's build, and removes the
/// cache entries and logs its builds made.
/// </summary>
public sealed partial class UserDriverBootTests : IDisposable
{
    /// <summary>Generous for a loaded two-core machine: a dotnet start, a module build and a TCG boot.</summary>
    private static readonly TimeSpan Run = TimeSpan.FromMinutes(8);

    private static readonly string FixtureDirectory = Path.Combine(AppContext.BaseDirectory, "Drivers", "hello");

    private readonly string _dir = Directory.CreateTempSubdirectory("pcieemu-user-driver-").FullName;
    private readonly HashSet<string> _made = [];

    public void Dispose()
    {
        foreach (string path in _made)
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else if (File.Exists(path))
            {
                File.Delete(path);
            }
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_driver_is_built_once_loaded_beside_ours_and_built_again_when_a_source_changes_with_its_warning_shown()
    {
        var (dir, greeting) = Hello();
        var before = Listing(dir);
        string[] boot = ["boot", "--timeout", "300", "--driver", dir, "--exec", "cat /proc/modules", "--exec", "dmesg | grep pcieemu-hello:",
            "--exec", "cat /sys/module/hello/parameters/greeting"];

        var first = await Pcieemu(boot);

        first.Exit.Should().Be(0, first.Stderr);
        string entry = BuiltInto(first.Stderr, "hello");
        first.Stderr.Should().Contain($"driver {dir}: built hello.ko in ").And.NotContain("did not load");
        first.Stdout.Should().MatchRegex("(?m)^hello ", "the user's module is loaded").And.MatchRegex("(?m)^pcieemu_audio ", "beside ours");
        first.Stdout.Should().Contain($"pcieemu-hello: loaded: {greeting}").And.Contain($"\n{greeting}\n");
        Listing(dir).Should().Equal(before, "the build runs in a scratch copy: nothing is written into the user's directory");
        string built = await File.ReadAllTextAsync(Path.Combine(entry, ".complete"));

        File.SetLastWriteTimeUtc(Path.Combine(dir, "hello.c"), DateTime.UtcNow.AddMinutes(1));
        var second = await Pcieemu(boot);

        second.Exit.Should().Be(0, second.Stderr);
        second.Stderr.Should().Contain($"driver hello: cached ({entry})").And.NotContain("driver hello: building");
        (await File.ReadAllTextAsync(Path.Combine(entry, ".complete"))).Should().Be(built, "a touched but unchanged source is not built again");
        second.Stdout.Should().Contain($"pcieemu-hello: loaded: {greeting}");

        int line = InsertIntoInit(dir, "int pcieemu_unused;");
        var edited = Listing(dir);
        var third = await Pcieemu(boot);

        third.Exit.Should().Be(0, "a warning does not stop a user's build\n" + third.Stderr);
        BuiltInto(third.Stderr, "hello").Should().NotBe(entry, "a changed source is another build");
        third.Stderr.Should().MatchRegex($@"(?m)^{Regex.Escape(dir)}/hello\.c:{line}:\d+: warning: unused variable 'pcieemu_unused' \[-Wunused-variable\]$",
            "the warning names the user's file and line, not the scratch copy");
        third.Stderr.Should().Contain($"driver {dir}: built hello.ko in ").And.Contain(", 1 warning; log: ").And.NotContain(".tmp-");
        third.Stdout.Should().Contain($"pcieemu-hello: loaded: {greeting}");
        Listing(dir).Should().Equal(edited, "nor by a build that warns");
    }

    [Fact]
    public async Task With_no_driver_ours_stays_out_of_the_guest_and_the_users_driver_still_loads()
    {
        var (dir, greeting) = Hello();

        var r = await Pcieemu("boot", "--timeout", "300", "--no-driver", "--driver", dir,
            "--exec", "cat /proc/modules", "--exec", "ls /lib/modules/pcieemu", "--exec", "dmesg | grep pcieemu-hello:");

        r.Exit.Should().Be(0, r.Stderr);
        r.Stdout.Should().MatchRegex("(?m)^hello ").And.NotMatchRegex("(?m)^pcieemu_audio ");
        r.Stdout.Should().MatchRegex("(?m)^hello\\.ko$").And.NotContain("pcieemu_audio.ko", "ours is not even in the guest");
        r.Stdout.Should().Contain($"pcieemu-hello: loaded: {greeting}");
    }

    [Fact]
    public async Task A_build_error_is_one_line_then_the_compilers_lines_with_the_users_file_and_line_and_no_guest_starts()
    {
        var (dir, _) = Hello();
        int line = InsertIntoInit(dir, "int broken = pcieemu_undeclared;");
        var before = Listing(dir);

        var r = await Pcieemu("boot", "--timeout", "300", "--driver", dir, "--exec", "true");

        r.Exit.Should().Be(1, r.Stderr);
        r.Stderr.Should().NotContain("   at ", "a clear error, not a stack trace").And.NotContain("starting the card server", "QEMU never starts");
        var rest = OutputLines(r.Stderr);
        rest.Should().NotBeEmpty(r.Stderr);
        string error = rest[0];
        var m = Regex.Match(error, $@"^boot: driver {Regex.Escape(dir)} failed to build: {Regex.Escape(dir)}/hello\.c:{line}:\d+: error: 'pcieemu_undeclared' undeclared .*; log: (?<log>\S+)$");
        m.Success.Should().BeTrue(error);
        rest.Skip(1).Should().Contain(l => Regex.IsMatch(l, $@"^{Regex.Escape(dir)}/hello\.c:{line}:\d+: error: 'pcieemu_undeclared' undeclared"),
                "the compiler's own lines follow, with the user's file and line\n" + r.Stderr)
            .And.Contain(l => l.Contains("pcieemu_undeclared;", StringComparison.Ordinal), "with the source excerpt")
            .And.NotContain(l => l.Contains("/src/hello.c", StringComparison.Ordinal), "never the scratch copy's paths")
            .And.NotContain(l => l.StartsWith("boot: ", StringComparison.Ordinal), "one error line only");
        string log = await File.ReadAllTextAsync(m.Groups["log"].Value);
        log.Should().Contain($"{dir}/hello.c:{line}:");
        Regex.Matches(log, @"\S*/src/hello\.c").Should().BeEmpty("the log names the user's files, not the scratch copy's");
        Listing(dir).Should().Equal(before);
    }

    [Fact]
    public async Task Bad_driver_directories_are_one_line_and_exit_2_before_anything_is_provisioned()
    {
        var (dir, _) = Hello();
        string file = Path.Combine(dir, "hello.c");
        string empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        string missing = Path.Combine(_dir, "missing");

        foreach (var (args, expected) in new (string[], string)[]
                 {
                     (["--driver", missing], $"boot: --driver {missing}: no such directory"),
                     (["--driver", file], $"boot: --driver {file}: not a directory (a regular file); give the module's source directory"),
                     (["--driver", empty], $"boot: --driver {empty}: no Kbuild or Makefile in it, so it is not a kernel module source directory"),
                     (["--driver", dir, "--driver", dir + "/"], $"boot: --driver {dir}/: given twice"),
                 })
        {
            var r = await Pcieemu(["boot", .. args, "--exec", "true"]);
            r.Exit.Should().Be(2, r.Stderr);
            r.Stderr.TrimEnd('\n').Split('\n').Should().ContainSingle("nothing is provisioned or built first").Which.Should().Be(expected);
        }
    }

    [Fact]
    public async Task A_module_without_obj_m_our_drivers_name_while_ours_loads_or_two_modules_of_one_name_are_one_line_before_qemu()
    {
        string noModule = Directory.CreateDirectory(Path.Combine(_dir, "nomodule")).FullName;
        await File.WriteAllTextAsync(Path.Combine(noModule, "Kbuild"), $"# builds nothing ({Guid.NewGuid():N})\n");
        var none = await Pcieemu("boot", "--timeout", "300", "--driver", noModule, "--exec", "true");
        none.Exit.Should().Be(1, none.Stderr);
        OneErrorLine(none.Stderr).Should().MatchRegex($@"^boot: driver {Regex.Escape(noModule)} built no \.ko file \(does its Kbuild or Makefile set obj-m\?\); log: \S+$");

        var (ours, _) = Hello("pcieemu_audio");
        await File.WriteAllTextAsync(Path.Combine(ours, "Kbuild"), "obj-m := pcieemu_audio.o\npcieemu_audio-y := hello.o\n");
        var clash = await Pcieemu("boot", "--timeout", "300", "--driver", ours, "--exec", "true");
        clash.Exit.Should().Be(1, clash.Stderr);
        clash.Stderr.Should().NotContain("starting the card server");
        OneErrorLine(clash.Stderr).Should().Be(
            $"boot: driver {ours} builds pcieemu_audio.ko, which is the name of the project's own driver, loaded too; leave ours out (boot --no-driver) to load yours instead");

        var (a, _) = Hello("a");
        var (b, _) = Hello("b");
        var twice = await Pcieemu("boot", "--timeout", "300", "--driver", a, "--driver", b, "--exec", "true");
        twice.Exit.Should().Be(1, twice.Stderr);
        OneErrorLine(twice.Stderr).Should().Be($"boot: drivers {a} and {b} both build hello.ko; the guest can load only one module of a name");
    }

    [Fact]
    public async Task An_edited_copy_of_our_driver_loads_instead_of_ours_with_no_driver_and_runs_the_card()
    {
        string copy = Path.Combine(_dir, "pcieemu_audio");
        CopyTree(Path.Combine(DataFiles.QemuDirectory, "drivers", "pcieemu_audio"), copy);
        string tag = Guid.NewGuid().ToString("N");
        await File.AppendAllTextAsync(Path.Combine(copy, "pcieemu_audio_main.c"), $"MODULE_INFO(pcieemu_test_build, \"{tag}\");\n");

        var r = await Pcieemu("boot", "--timeout", "400", "--no-driver", "--driver", copy,
            "--exec", "modinfo -F pcieemu_test_build /lib/modules/pcieemu/pcieemu_audio.ko", "--exec", "cat /proc/modules", "--exec", "cat /proc/asound/cards");

        r.Exit.Should().Be(0, r.Stderr);
        r.Stdout.Should().Contain(tag, "the guest has the user's build of pcieemu_audio").And.MatchRegex("(?m)^pcieemu_audio ");
        r.Stdout.Should().NotContain("no soundcards", "the user's build drives the card");
    }

    /// <summary>A copy of the fixture in <paramref name="name"/> (its directory and progress name) with a greeting of its own.</summary>
    private (string Directory, string Greeting) Hello(string name = "hello")
    {
        string dir = Path.Combine(_dir, name);
        CopyTree(FixtureDirectory, dir);
        string greeting = $"hello from a user driver {Guid.NewGuid():N}";
        string source = Path.Combine(dir, "hello.c");
        File.WriteAllText(source, File.ReadAllText(source).Replace("\"hello from a user driver\"", $"\"{greeting}\"", StringComparison.Ordinal));
        File.ReadAllText(source).Should().Contain(greeting);
        return (dir, greeting);
    }

    /// <summary>Inserts <paramref name="statement"/> as the first line of hello_init's body; returns its line number.</summary>
    private static int InsertIntoInit(string dir, string statement)
    {
        string path = Path.Combine(dir, "hello.c");
        var lines = File.ReadAllLines(path).ToList();
        int init = lines.FindIndex(l => l.StartsWith("static int __init hello_init(void)", StringComparison.Ordinal));
        init.Should().BeGreaterThan(0);
        lines[init + 1].Should().Be("{");
        lines.Insert(init + 2, "\t" + statement);
        File.WriteAllLines(path, lines);
        return init + 3;
    }

    private async Task<(int Exit, string Stdout, string Stderr)> Pcieemu(params string[] args)
    {
        var r = await CliProcesses.RunAsync(Run, CliProcesses.DefaultDll, _dir, args);
        foreach (Match m in BuildTarget().Matches(r.Stderr))
        {
            _made.Add(m.Groups["path"].Value);
        }

        return r;
    }

    /// <summary>The cache entry of the progress line "driver NAME: building against … into ENTRY" (it must be there once).</summary>
    private static string BuiltInto(string stderr, string name)
    {
        var m = Regex.Matches(stderr, $@"driver {Regex.Escape(name)}: building against \S+ into (?<entry>\S+/user-drivers/[0-9a-f]{{16}})$", RegexOptions.Multiline);
        m.Should().ContainSingle(stderr);
        return m[0].Groups["entry"].Value;
    }

    /// <summary>The one line of stderr that is neither a progress line ("[i/n] …") nor a build message ("driver …").</summary>
    private static string OneErrorLine(string stderr) => OutputLines(stderr).Should().ContainSingle(stderr).Which;

    /// <summary>The lines of stderr that are neither progress lines ("[i/n] …") nor build messages ("driver …").</summary>
    private static List<string> OutputLines(string stderr) =>
        [.. stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('[') && !l.StartsWith("driver ", StringComparison.Ordinal))];

    private static List<string> Listing(string dir) =>
        [.. Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Select(p => $"{p} {new FileInfo(p).Length}").Order(StringComparer.Ordinal)];

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    /// <summary>What a build of this test made in the shared cache: the entry it builds into, and a failed build's log.</summary>
    [GeneratedRegex(@"(building against \S+ into |; log: )(?<path>\S+/user-drivers/([0-9a-f]{16}|logs/\S+\.log))$", RegexOptions.Multiline)]
    private static partial Regex BuildTarget();
}
