using System.Diagnostics;
using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Harness.Tests;

/// <summary>
/// `boot --driver DIR`: which directories are driver sources (one clear reason when not), which files take part in a
/// build, and the content hash that keys the build cache — names, executable bits and contents, never paths or times.
/// </summary>
public sealed class DriverSourceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pcieemu-driver-src-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Driver(string name = "mydrv", string kbuild = "obj-m := mydrv.o\n", string code = "int x;\n")
    {
        string d = Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;
        File.WriteAllText(Path.Combine(d, "Kbuild"), kbuild);
        File.WriteAllText(Path.Combine(d, "mydrv.c"), code);
        return d;
    }

    [Fact]
    public void A_directory_with_a_Kbuild_or_a_Makefile_is_a_driver_source()
    {
        DriverSource.Problem(Driver()).Should().BeNull();
        string withMakefile = Directory.CreateDirectory(Path.Combine(_dir, "mk")).FullName;
        File.WriteAllText(Path.Combine(withMakefile, "Makefile"), "obj-m += mk.o\n");
        DriverSource.Problem(withMakefile).Should().BeNull();
    }

    [Fact]
    public void A_missing_path_a_file_a_dangling_link_and_a_directory_without_a_build_file_each_get_one_reason()
    {
        string file = Path.Combine(_dir, "mydrv.c");
        File.WriteAllText(file, "");
        string empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        string kbuildDir = Directory.CreateDirectory(Path.Combine(_dir, "kbuild-is-a-dir", "Kbuild")).FullName;
        string dangling = Path.Combine(_dir, "dangling");
        File.CreateSymbolicLink(dangling, Path.Combine(_dir, "nowhere"));

        DriverSource.Problem(Path.Combine(_dir, "nope")).Should().Be("no such directory");
        DriverSource.Problem(file).Should().Be("not a directory (a regular file); give the module's source directory");
        DriverSource.Problem(dangling).Should().Be("a symbolic link to nothing");
        DriverSource.Problem(empty).Should().Be("no Kbuild or Makefile in it, so it is not a kernel module source directory");
        DriverSource.Problem(Path.GetDirectoryName(kbuildDir)!).Should().StartWith("no Kbuild or Makefile");
        DriverSource.Problem("").Should().NotBeNull();
        var read = () => DriverSource.Read(empty);
        read.Should().Throw<DriverBuildException>().WithMessage($"driver {empty}: no Kbuild or Makefile in it*");
    }

    [Fact]
    public void A_relative_path_and_a_trailing_slash_name_the_same_absolute_directory()
    {
        string d = Driver();
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, d);
        DriverSource.FullPath(relative + "/").Should().Be(d);
        DriverSource.Read(relative).Directory.Should().Be(d);
        DriverSource.Read(d).Name.Should().Be("mydrv");
    }

    [Fact]
    public void Kernel_build_products_and_version_control_folders_take_no_part()
    {
        string d = Driver();
        foreach (string junk in new[] { "mydrv.o", "mydrv.ko", "mydrv.mod", "mydrv.mod.c", "mydrv.mod.o", ".mydrv.o.cmd", "Module.symvers", "modules.order" })
        {
            File.WriteAllText(Path.Combine(d, junk), "junk");
        }

        Directory.CreateDirectory(Path.Combine(d, ".git", "objects"));
        File.WriteAllText(Path.Combine(d, ".git", "HEAD"), "ref: refs/heads/main\n");
        Directory.CreateDirectory(Path.Combine(d, "include"));
        File.WriteAllText(Path.Combine(d, "include", "regs.h"), "#define X 1\n");

        DriverSource.Read(d).Files.Select(f => f.RelativePath).Should().Equal("Kbuild", "include/regs.h", "mydrv.c");
    }

    [Fact]
    public void The_hash_depends_on_contents_names_and_the_executable_bit_but_not_on_the_path_or_times()
    {
        string a = Driver("a"), b = Driver("b");
        string hash = DriverSource.Read(a).ContentHash();

        DriverSource.Read(b).ContentHash().Should().Be(hash, "the same sources elsewhere are the same build");
        File.SetLastWriteTimeUtc(Path.Combine(a, "mydrv.c"), DateTime.UtcNow.AddHours(1));
        DriverSource.Read(a).ContentHash().Should().Be(hash, "touching a file changes nothing");
        File.WriteAllText(Path.Combine(b, "mydrv.o"), "stale object");
        DriverSource.Read(b).ContentHash().Should().Be(hash, "a build product left by an in-place build changes nothing");

        File.AppendAllText(Path.Combine(a, "mydrv.c"), "int y;\n");
        DriverSource.Read(a).ContentHash().Should().NotBe(hash, "a changed source builds again");
        File.WriteAllText(Path.Combine(a, "mydrv.c"), "int x;\n");
        DriverSource.Read(a).ContentHash().Should().Be(hash);

        File.SetUnixFileMode(Path.Combine(a, "mydrv.c"), File.GetUnixFileMode(Path.Combine(a, "mydrv.c")) | UnixFileMode.UserExecute);
        DriverSource.Read(a).ContentHash().Should().NotBe(hash, "the copy keeps the executable bit, so it is part of the sources");

        File.Move(Path.Combine(b, "mydrv.c"), Path.Combine(b, "other.c"));
        DriverSource.Read(b).ContentHash().Should().NotBe(hash, "a renamed file is another build");
        File.WriteAllText(Path.Combine(b, "README"), "");
        File.Move(Path.Combine(b, "other.c"), Path.Combine(b, "mydrv.c"));
        DriverSource.Read(b).ContentHash().Should().NotBe(hash, "an added file is part of the sources");
    }

    [Fact]
    public void Symbolic_links_are_followed_and_their_targets_contents_count()
    {
        string d = Driver();
        string shared = Path.Combine(_dir, "shared.h");
        File.WriteAllText(shared, "#define SHARED 1\n");
        File.CreateSymbolicLink(Path.Combine(d, "shared.h"), shared);
        string before = DriverSource.Read(d).ContentHash();

        DriverSource.Read(d).Files.Should().Contain(f => f.RelativePath == "shared.h");
        File.WriteAllText(shared, "#define SHARED 2\n");
        DriverSource.Read(d).ContentHash().Should().NotBe(before);
        File.Delete(shared);
        var read = () => DriverSource.Read(d);
        read.Should().Throw<DriverBuildException>().WithMessage($"driver {d}: shared.h is a symbolic link to nothing");
    }

    [Fact]
    public void A_fifo_in_the_sources_is_refused_instead_of_blocking_the_hash()
    {
        string d = Driver();
        using (var mkfifo = Process.Start("mkfifo", [Path.Combine(d, "pipe")]))
        {
            mkfifo.WaitForExit();
        }

        var read = () => DriverSource.Read(d);
        read.Should().Throw<DriverBuildException>().WithMessage($"driver {d}: pipe is a FIFO, not a regular file or folder");
    }

    [Fact]
    public void A_directory_with_more_files_than_a_module_has_is_refused()
    {
        string d = Driver();
        for (int i = 0; i <= DriverSource.MaxFiles; i++)
        {
            File.WriteAllText(Path.Combine(d, $"f{i}.h"), "");
        }

        var read = () => DriverSource.Read(d);
        read.Should().Throw<DriverBuildException>().WithMessage($"driver {d}: more than {DriverSource.MaxFiles} files*is it the module's source directory?");
    }
}
