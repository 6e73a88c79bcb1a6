using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using PcieEmu.Interop;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// Interop/Libc.statx.cs, FileStatus and RegularFile (no PcieEmu.Interop.Tests project exists; the server's socket
/// rules rest on these): the struct layout of &lt;linux/stat.h&gt;, file types with and without following links,
/// identity as stat(1) reports it, and bounded reads of regular files only.
/// </summary>
public sealed class FileStatusTests
{
    [Fact]
    public void Statx_struct_has_the_kernel_layout()
    {
        Marshal.SizeOf<statx>().Should().Be(256);
        Marshal.SizeOf<statx_timestamp>().Should().Be(16);
        Offset(nameof(statx.stx_mask)).Should().Be(0);
        Offset(nameof(statx.stx_attributes)).Should().Be(8);
        Offset(nameof(statx.stx_nlink)).Should().Be(16);
        Offset(nameof(statx.stx_mode)).Should().Be(28);
        Offset(nameof(statx.stx_ino)).Should().Be(32);
        Offset(nameof(statx.stx_size)).Should().Be(40);
        Offset(nameof(statx.stx_blocks)).Should().Be(48);
        Offset(nameof(statx.stx_atime)).Should().Be(64);
        Offset(nameof(statx.stx_mtime)).Should().Be(112);
        Offset(nameof(statx.stx_rdev_major)).Should().Be(128);
        Offset(nameof(statx.stx_dev_major)).Should().Be(136);
        Offset(nameof(statx.stx_dev_minor)).Should().Be(140);

        static int Offset(string field) => (int)Marshal.OffsetOf<statx>(field);
    }

    [Fact]
    public void Each_kind_of_file_is_told_apart_and_links_are_not_followed_by_OfLink()
    {
        using var dir = new ScratchDir();
        string file = dir.File("file", "12345");
        string fifo = dir.Fifo("fifo");
        string socket = dir.StaleSocket("sock");
        string link = dir["link"];
        File.CreateSymbolicLink(link, file);

        FileStatus.OfLink(file)!.Value.Kind.Should().Be(FileKind.Regular);
        FileStatus.OfLink(file)!.Value.Size.Should().Be(5);
        FileStatus.OfLink(dir.Path)!.Value.Kind.Should().Be(FileKind.Directory);
        FileStatus.OfLink(fifo)!.Value.Kind.Should().Be(FileKind.Fifo);
        FileStatus.OfLink(socket)!.Value.Kind.Should().Be(FileKind.Socket);
        FileStatus.OfLink("/dev/null")!.Value.Kind.Should().Be(FileKind.CharacterDevice);
        FileStatus.OfLink(link)!.Value.Kind.Should().Be(FileKind.SymbolicLink);
        FileStatus.Of(link)!.Value.Kind.Should().Be(FileKind.Regular, "Of follows the link");
        FileStatus.Of(link)!.Value.IsSameObjectAs(FileStatus.Of(file)!.Value).Should().BeTrue();
        FileStatus.OfLink(link)!.Value.IsSameObjectAs(FileStatus.OfLink(file)!.Value).Should().BeFalse();
    }

    [Fact]
    public void A_missing_path_has_no_status()
    {
        using var dir = new ScratchDir();
        string file = dir.File("file", "x");
        FileStatus.OfLink(dir["missing"]).Should().BeNull();
        FileStatus.Of(Path.Combine(file, "below-a-file")).Should().BeNull("ENOTDIR: nothing is there either");
    }

    [Fact]
    public void Identity_is_the_device_and_inode_stat_reports()
    {
        using var dir = new ScratchDir();
        string file = dir.File("file", "x");
        var status = FileStatus.OfLink(file)!.Value;

        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%d %i", file]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        string[] fields = stat.StandardOutput.ReadToEnd().Trim().Split(' ');
        stat.WaitForExit(30_000).Should().BeTrue();

        ulong device = ulong.Parse(fields[0]);
        ulong major = ((device >> 32) & 0xFFFF_F000) | ((device >> 8) & 0xFFF);
        ulong minor = ((device >> 12) & 0xFFFF_FF00) | (device & 0xFF);
        status.Inode.Should().Be(ulong.Parse(fields[1]));
        status.DeviceMajor.Should().Be((uint)major);
        status.DeviceMinor.Should().Be((uint)minor);
    }

    [Fact]
    public void A_regular_file_is_read_whole_up_to_and_including_the_limit()
    {
        using var dir = new ScratchDir();
        string file = dir["data"];
        byte[] content = [.. Enumerable.Range(0, 10_000).Select(i => (byte)i)];
        File.WriteAllBytes(file, content);

        RegularFile.ReadAllBytes(file, 10_000).Should().Equal(content);
        var act = () => RegularFile.ReadAllBytes(file, 9_999, "a test file");
        act.Should().Throw<IOException>().WithMessage("*larger than 9999 bytes, the limit for a test file");
    }

    [Fact]
    public void A_file_whose_reported_size_is_wrong_is_still_read_whole()
    {
        // /proc files report size 0 but have content.
        RegularFile.ReadAllText("/proc/self/status", 1 << 20).Should().Contain("Pid:");
    }

    [Theory]
    [InlineData("/dev/zero", "a character device")]
    [InlineData("/dev/urandom", "a character device")]
    [InlineData("/tmp", "a directory")]
    public void A_file_that_is_not_regular_is_refused_before_it_is_read(string path, string kind)
    {
        var act = () => RegularFile.ReadAllBytes(path, 1 << 20);
        act.Should().Throw<IOException>().WithMessage($"{path} is {kind}, not a regular file");
    }

    [Fact]
    public void A_fifo_is_refused_at_once_instead_of_blocking_in_open()
    {
        using var dir = new ScratchDir();
        string fifo = dir.Fifo("fifo");
        var read = Task.Run(() => RegularFile.ReadAllBytes(fifo, 1 << 20));

        // A generous bound: the refusal needs no writer; the bug this guards against blocks in open(2) forever.
        bool finished = ((IAsyncResult)read).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30));
        if (!finished)
        {
            using var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write); // releases the blocked open
        }

        finished.Should().BeTrue("a FIFO must be refused without waiting for a writer");
        read.Exception!.InnerException.Should().BeOfType<IOException>().Which.Message.Should().Be($"{fifo} is a FIFO, not a regular file");
    }
}
