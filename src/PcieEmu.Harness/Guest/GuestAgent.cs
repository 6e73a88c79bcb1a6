using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace PcieEmu.Harness.Guest;

/// <summary>The result of one command run in the guest.</summary>
/// <param name="ExitCode">The shell's exit code.</param>
/// <param name="Output">Standard output and standard error together, as the guest wrote them.</param>
public sealed record GuestCommandResult(int ExitCode, string Output)
{
    /// <summary>The command exited 0.</summary>
    public bool Succeeded => ExitCode == 0;
}

/// <summary>
/// Host side of the guest command agent (qemu/guest/agent.sh) on a virtio-serial port. The host listens on
/// the chardev's UNIX socket and QEMU connects at start, so there is no race. Line protocol:
/// guest <c>@@READY &lt;uptime&gt; &lt;drivers&gt;</c>; host <c>&lt;id&gt; &lt;base64 script&gt;</c>; guest
/// <c>@@RESULT &lt;id&gt; &lt;rc&gt; &lt;base64 output|-&gt;</c>; host <c>quit</c>.
/// The session owns it (<see cref="GuestSession.Agent"/>) and disposes it; prefer <see cref="GuestSession.RunAsync"/>,
/// which adds the logs to a failure. Commands run one at a time, from any thread.
/// </summary>
public sealed class GuestAgent : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private int _nextId;
    private bool _broken;

    private GuestAgent(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new StreamReader(stream, Encoding.UTF8);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
    }

    /// <summary>Uptime and loaded drivers the guest reported when the agent came up.</summary>
    public string ReadyLine { get; private set; } = "";

    /// <summary>The project's and user's drivers /init loaded before the agent came up, by module name (empty when none).</summary>
    public IReadOnlyList<string> LoadedDrivers =>
        ReadyLine.Split(' ') is { Length: >= 3 } parts && parts[2] != "-" ? parts[2].Split(',') : [];

    /// <summary>Creates the listening socket QEMU's chardev connects to (before QEMU starts).</summary>
    internal static Socket Listen(string path)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        return listener;
    }

    /// <summary>Accepts QEMU's connection and waits for the guest's @@READY.</summary>
    internal static async Task<GuestAgent> AcceptAsync(Socket listener, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        Socket socket;
        try
        {
            socket = await listener.AcceptAsync(cts.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new GuestException($"QEMU did not connect to the agent socket within {timeout.TotalSeconds:F0} s");
        }

#pragma warning disable CA2000 // returned on @@READY, disposed by the catch below on every other way out (the analysis misses it)
        var agent = new GuestAgent(socket);
#pragma warning restore CA2000
        try
        {
            while (true)
            {
                string? line;
                try
                {
                    line = await agent._reader.ReadLineAsync(cts.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new GuestException($"the guest agent did not report ready within {timeout.TotalSeconds:F0} s");
                }

                if (line is null)
                {
                    throw new GuestException("the guest closed the agent channel before it was ready (guest crashed or powered off)");
                }

                if (line.StartsWith("@@READY", StringComparison.Ordinal))
                {
                    agent.ReadyLine = line;
                    return agent;
                }

                if (line.StartsWith("@@ERROR", StringComparison.Ordinal))
                {
                    throw new GuestException($"guest agent: {line[8..]}");
                }
            }
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs a shell script in the guest (cwd: the share when mounted) and returns its exit code and output.</summary>
    /// <param name="script">A shell script (several lines allowed), run by the guest's sh.</param>
    /// <param name="timeout">How long it may run; a timeout leaves the agent unusable (the guest may still be running it).</param>
    /// <param name="cancellationToken">Stops waiting (the agent is unusable afterwards too).</param>
    /// <exception cref="GuestException">The script timed out, the guest closed the channel, or an earlier failure broke it.</exception>
    public async Task<GuestCommandResult> RunAsync(string script, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_broken)
            {
                throw new GuestException("the agent channel is unusable after an earlier timeout or failure");
            }

            int id = ++_nextId;
            string payload = Convert.ToBase64String(Encoding.UTF8.GetBytes(script));
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            try
            {
                await _writer.WriteLineAsync($"{id} {payload}".AsMemory(), cts.Token);
                while (true)
                {
                    string? line = await _reader.ReadLineAsync(cts.Token);
                    if (line is null)
                    {
                        _broken = true;
                        throw new GuestException($"the guest closed the agent channel while running: {FirstLine(script)} (guest crashed or powered off)");
                    }

                    var parts = line.Split(' ', 4);
                    if (parts.Length == 4 && parts[0] == "@@RESULT" && parts[1] == id.ToString(CultureInfo.InvariantCulture))
                    {
                        int rc = int.Parse(parts[2], CultureInfo.InvariantCulture);
                        string output = parts[3] == "-" ? "" : Encoding.UTF8.GetString(Convert.FromBase64String(parts[3]));
                        return new GuestCommandResult(rc, output);
                    }
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                _broken = true;
                throw new GuestException($"guest command timed out after {timeout.TotalSeconds:F0} s: {FirstLine(script)}");
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Asks the agent to stop; the guest then powers off and QEMU exits.</summary>
    internal async Task QuitAsync()
    {
        try
        {
            await _writer.WriteLineAsync("quit now".AsMemory());
        }
        catch (IOException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static string FirstLine(string script)
    {
        string first = script.Split('\n')[0];
        return first.Length > 120 ? first[..120] + "…" : first;
    }

    /// <summary>Closes the channel (the guest is not told; the session asks it to quit first).</summary>
    public ValueTask DisposeAsync()
    {
        // The socket first: it ends any read or write still waiting on it. The reader and writer only wrap it (their
        // stream does not own the socket) and the writer holds nothing unsent (AutoFlush).
        _socket.Dispose();
        try
        {
            _writer.Dispose();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            // A write still unwinding from the closed socket: nothing of it needs flushing, and clean-up must go on.
        }

        _reader.Dispose();
        _gate.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>The guest agent failed: no connection or no @@READY in time, a command timed out, or the guest went away.</summary>
/// <param name="message">What failed, with the command's first line when one was running.</param>
public sealed class GuestException(string message) : Exception(message);
