using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using System.Text;
using PcieEmu.Harness.Guest;

namespace PcieEmu.Harness.Tests;

/// <summary>The host side of the agent protocol against a fake guest speaking it over a real UNIX socket.</summary>
[SuppressMessage("Design", "CA1001", Justification = "xUnit disposes the sockets through IAsyncLifetime.DisposeAsync")]
public sealed class GuestAgentTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pcieemu-agent-").FullName;
    private Socket? _listener;
    private Socket? _guest;

    private string SocketPath => Path.Combine(_dir, "agent.sock");

    public Task InitializeAsync()
    {
        _listener = GuestAgent.Listen(SocketPath);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _guest?.Dispose();
        _listener?.Dispose();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>Connects like QEMU's chardev does and plays the guest with the given behaviour.</summary>
    private async Task<(Task<GuestAgent> Agent, StreamReader FromHost, StreamWriter ToHost)> ConnectGuest(TimeSpan? timeout = null)
    {
        // Connected before the accept starts (the listener's backlog holds it): the accept then finds it at once, so
        // the timeout a test sets is spent on the ready wait it is about, however late this thread runs.
        _guest = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await _guest.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
        var accept = GuestAgent.AcceptAsync(_listener!, timeout ?? TimeSpan.FromSeconds(5), CancellationToken.None);
        var stream = new NetworkStream(_guest);
        return (accept, new StreamReader(stream), new StreamWriter(stream) { AutoFlush = true, NewLine = "\n" });
    }

    private static async Task AnswerOne(StreamReader fromHost, StreamWriter toHost, Func<string, (int Rc, string Output)> run)
    {
        string line = (await fromHost.ReadLineAsync())!;
        var parts = line.Split(' ');
        string script = Encoding.UTF8.GetString(Convert.FromBase64String(parts[1]));
        var (rc, output) = run(script);
        string encoded = output.Length == 0 ? "-" : Convert.ToBase64String(Encoding.UTF8.GetBytes(output));
        await toHost.WriteLineAsync($"@@RESULT {parts[0]} {rc} {encoded}");
    }

    [Fact]
    public async Task Ready_reports_the_loaded_drivers_and_commands_return_exit_code_and_output()
    {
        var (accept, fromHost, toHost) = await ConnectGuest();
        await toHost.WriteLineAsync("noise before ready");
        await toHost.WriteLineAsync("@@READY 3.14 pcieemu_audio");
        await using var agent = await accept;
        agent.LoadedDrivers.Should().Equal("pcieemu_audio");

        var run = agent.RunAsync("echo hi; exit 7", TimeSpan.FromSeconds(5));
        await AnswerOne(fromHost, toHost, s => (7, s.Contains("echo hi", StringComparison.Ordinal) ? "hi\n" : "wrong script"));
        var result = await run;

        result.ExitCode.Should().Be(7);
        result.Output.Should().Be("hi\n");
    }

    [Fact]
    public async Task Empty_output_and_binary_output_survive_the_round_trip()
    {
        var (accept, fromHost, toHost) = await ConnectGuest();
        await toHost.WriteLineAsync("@@READY 1.0 -");
        await using var agent = await accept;
        agent.LoadedDrivers.Should().BeEmpty();

        var empty = agent.RunAsync("true", TimeSpan.FromSeconds(5));
        await AnswerOne(fromHost, toHost, _ => (0, ""));
        (await empty).Output.Should().BeEmpty();

        string big = string.Concat(Enumerable.Range(0, 20000).Select(i => (char)('a' + (i % 26))));
        var large = agent.RunAsync("big", TimeSpan.FromSeconds(5));
        await AnswerOne(fromHost, toHost, _ => (0, big));
        (await large).Output.Should().Be(big);
    }

    [Fact]
    public async Task A_guest_that_disappears_before_ready_is_a_clear_error()
    {
        var (accept, _, toHost) = await ConnectGuest();
        await toHost.WriteLineAsync("[    0.1] booting");
        _guest!.Shutdown(SocketShutdown.Both);

        var act = async () => await accept;
        await act.Should().ThrowAsync<GuestException>().WithMessage("*closed the agent channel before it was ready*");
    }

    [Fact]
    public async Task A_guest_that_never_gets_ready_times_out()
    {
        var (accept, _, _) = await ConnectGuest(TimeSpan.FromSeconds(2)); // long enough that a loaded host still accepts first
        var act = async () => await accept;
        await act.Should().ThrowAsync<GuestException>().WithMessage("*did not report ready*");
    }

    [Fact]
    public async Task A_command_that_never_answers_times_out_and_the_channel_is_then_refused()
    {
        var (accept, _, toHost) = await ConnectGuest();
        await toHost.WriteLineAsync("@@READY 1.0 -");
        await using var agent = await accept;

        var act = async () => await agent.RunAsync("sleep 1000", TimeSpan.FromMilliseconds(200));
        await act.Should().ThrowAsync<GuestException>().WithMessage("*timed out*sleep 1000*");
        var again = async () => await agent.RunAsync("true", TimeSpan.FromSeconds(1));
        await again.Should().ThrowAsync<GuestException>().WithMessage("*unusable*");
    }

    [Fact]
    public async Task An_agent_error_line_fails_the_start_with_its_text()
    {
        var (accept, _, toHost) = await ConnectGuest();
        await toHost.WriteLineAsync("@@ERROR pcieemu-agent: no virtio-serial port named pcieemu.agent");
        var act = async () => await accept;
        await act.Should().ThrowAsync<GuestException>().WithMessage("*no virtio-serial port*");
    }
}
