using System.Net.Sockets;
using System.Text;
using PcieEmu.Interop;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Server;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// The socket path rules (VfioUserServer.Listen/Dispose): a path that is not ours is never unlinked; only a socket
/// nobody listens on is removed as stale; Dispose removes only the socket this server bound, and only while the path
/// still is that socket; a path that does not fit in sun_path is refused with a message saying so.
/// </summary>
[Collection(FdSensitiveCollection.Name)]
public sealed class SocketPathTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_second_server_that_fails_to_listen_leaves_the_first_server_serving(bool persist)
    {
        using var dir = new ScratchDir();
        string path = dir["card.sock"];
        using var device = new TestDevice();
        using var logs = new TestLoggerFactory();
        using var first = new VfioUserServer(device.Function, path, new VfioUserServerOptions { Persist = persist }, logs);
        first.Listen();
        var run = first.RunAsync();
        var before = FileStatus.OfLink(path)!.Value;

        using var secondLogs = new TestLoggerFactory();
        using (var second = new VfioUserServer(device.Function, path, new VfioUserServerOptions(), secondLogs))
        {
            var act = second.Listen;
            act.Should().Throw<IOException>().WithMessage("in use by another server");
        }

        FileStatus.OfLink(path).Should().NotBeNull("the failed server must not unlink the live server's socket");
        FileStatus.OfLink(path)!.Value.IsSameObjectAs(before).Should().BeTrue();

        // The second server's probe connected and left without a word; that is not the first server's client, even
        // without Persist. Let that session end before ours (a client while it runs would be refused).
        SpinWait.SpinUntil(() => first.SessionCount == 1 && first.Current is null, ServerHarness.Bound).Should().BeTrue();
        run.IsCompleted.Should().BeFalse("the probe did not end the server");
        using (var client = VfioUserClient.Connect(path))
        {
            client.Negotiate().Major.Should().Be(0, "the first server is still reachable");
            client.GetDeviceInfo();
        }

        if (!persist)
        {
            SpinWait.SpinUntil(() => run.IsCompleted, ServerHarness.Bound).Should().BeTrue("its one real client has left");
        }

        first.Dispose();
        SpinWait.SpinUntil(() => run.IsCompleted, ServerHarness.Bound).Should().BeTrue();
    }

    [Fact]
    public void A_regular_file_at_the_socket_path_is_refused_and_left_untouched()
    {
        using var dir = new ScratchDir();
        string path = dir.File("notes.txt", "precious");

        ListenAndDispose(path).Should().Be("it is a regular file, not a socket (left untouched; remove it or choose another path)");

        File.ReadAllText(path).Should().Be("precious");
    }

    [Fact]
    public void A_fifo_at_the_socket_path_is_refused_and_left_untouched()
    {
        using var dir = new ScratchDir();
        string path = dir.Fifo("fifo");
        var before = FileStatus.OfLink(path)!.Value;

        ListenAndDispose(path).Should().Be("it is a FIFO, not a socket (left untouched; remove it or choose another path)");

        FileStatus.OfLink(path)!.Value.Should().Be(before);
    }

    [Fact]
    public void A_directory_at_the_socket_path_is_refused()
    {
        using var dir = new ScratchDir();
        string path = dir["d"];
        Directory.CreateDirectory(path);

        ListenAndDispose(path).Should().Be("it is a directory, not a socket (left untouched; remove it or choose another path)");

        Directory.Exists(path).Should().BeTrue();
    }

    [Fact]
    public void A_symbolic_link_to_a_stale_socket_is_neither_followed_nor_removed()
    {
        using var dir = new ScratchDir();
        string target = dir.StaleSocket("stale.sock");
        string path = dir["link.sock"];
        File.CreateSymbolicLink(path, target);

        ListenAndDispose(path).Should().Be("it is a symbolic link, not a socket (left untouched; remove it or choose another path)");

        FileStatus.OfLink(path)!.Value.Kind.Should().Be(FileKind.SymbolicLink);
        FileStatus.OfLink(target)!.Value.Kind.Should().Be(FileKind.Socket);
    }

    [Fact]
    public void A_stale_socket_is_replaced_and_the_servers_own_socket_is_removed_on_dispose()
    {
        using var dir = new ScratchDir();
        string path = dir.StaleSocket("card.sock");
        using var device = new TestDevice();
        using var logs = new TestLoggerFactory();
        var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions(), logs);
        server.Listen();
        FileStatus.OfLink(path)!.Value.Kind.Should().Be(FileKind.Socket);

        server.Dispose();

        FileStatus.OfLink(path).Should().BeNull("the server removes the socket it bound");
    }

    [Fact]
    public void Dispose_leaves_a_socket_that_replaced_the_servers_own()
    {
        using var dir = new ScratchDir();
        string path = dir["card.sock"];
        using var device = new TestDevice();
        using var logs = new TestLoggerFactory();
        var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions(), logs);
        server.Listen();
        File.Delete(path);
        string aside = dir["aside.sock"];
        using var other = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        other.Bind(new UnixDomainSocketEndPoint(aside));
        File.Move(aside, path); // another server's socket now lives at the path
        var others = FileStatus.OfLink(path)!.Value;

        server.Dispose();

        FileStatus.OfLink(path).Should().NotBeNull("the path no longer names this server's socket");
        FileStatus.OfLink(path)!.Value.IsSameObjectAs(others).Should().BeTrue();
    }

    [Fact]
    public void A_path_longer_than_sun_path_is_refused_with_the_limit_named()
    {
        using var dir = new ScratchDir();
        string path = PathOfLength(dir, 108);

        ListenAndDispose(path).Should().Be(
            "the path is 108 bytes long; a UNIX socket path may have at most 107 (sun_path holds 108 bytes including the terminating NUL)");
        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void A_client_given_a_path_longer_than_sun_path_is_told_the_limit()
    {
        using var dir = new ScratchDir();
        var act = () => VfioUserClient.Connect(PathOfLength(dir, 200));

        act.Should().Throw<IOException>().WithMessage("the path is 200 bytes long; a UNIX socket path may have at most 107 *");
    }

    [Fact]
    public void A_path_of_exactly_107_bytes_is_served()
    {
        using var dir = new ScratchDir();
        string path = PathOfLength(dir, 107);
        using var device = new TestDevice();
        using var logs = new TestLoggerFactory();
        using var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions(), logs);

        server.Listen();

        FileStatus.OfLink(path)!.Value.Kind.Should().Be(FileKind.Socket);
        var run = server.RunAsync();
        using (var client = VfioUserClient.Connect(path))
        {
            client.Negotiate().Major.Should().Be(0);
        }

        SpinWait.SpinUntil(() => run.IsCompleted, ServerHarness.Bound).Should().BeTrue();
    }

    /// <summary>Listen must fail; returns its message. Dispose runs too: the path must survive both.</summary>
    private static string ListenAndDispose(string path)
    {
        using var device = new TestDevice();
        using var logs = new TestLoggerFactory();
        using var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions(), logs);
        var act = server.Listen;
        return act.Should().Throw<IOException>().Which.Message;
    }

    /// <summary>A path in <paramref name="dir"/> of exactly <paramref name="bytes"/> UTF-8 bytes.</summary>
    private static string PathOfLength(ScratchDir dir, int bytes)
    {
        string prefix = dir.Path + "/";
        string path = prefix + new string('s', bytes - Encoding.UTF8.GetByteCount(prefix));
        Encoding.UTF8.GetByteCount(path).Should().Be(bytes);
        return path;
    }
}
