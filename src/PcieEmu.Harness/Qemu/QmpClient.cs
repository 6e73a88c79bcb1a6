using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PcieEmu.Harness.Qemu;

/// <summary>
/// A minimal QMP client: capabilities handshake, then one command at a time; events are collected. The session owns it
/// (<see cref="GuestSession.Qmp"/>, null until QEMU's monitor is up) and disposes it. Thread-safe: calls queue.
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private QmpClient(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new StreamReader(stream, Encoding.UTF8);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
    }

    internal List<JsonNode> Events { get; } = [];

    internal static async Task<QmpClient> ConnectAsync(string path, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                var client = new QmpClient(socket);
                await client.ReadMessageAsync(timeout, cancellationToken); // greeting
                await client.ExecuteAsync("qmp_capabilities", null, timeout, cancellationToken);
                return client;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(50, cancellationToken);
            }
        }
    }

    /// <summary>Runs a command; returns its "return" value or throws with QEMU's error description.</summary>
    /// <param name="command">The QMP command ("device_del").</param>
    /// <param name="arguments">Its arguments, or null.</param>
    /// <param name="timeout">How long to wait for the answer (default 30 s).</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="QmpException">QEMU answered with an error, did not answer in time, or closed the monitor.</exception>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var request = new JsonObject { ["execute"] = command };
            if (arguments is not null)
            {
                request["arguments"] = arguments;
            }

            await _writer.WriteLineAsync(request.ToJsonString().AsMemory(), cancellationToken);
            while (true)
            {
                var message = await ReadMessageAsync(timeout ?? TimeSpan.FromSeconds(30), cancellationToken);
                if (message["event"] is not null)
                {
                    lock (Events)
                    {
                        Events.Add(message);
                    }

                    continue;
                }

                if (message["error"] is JsonNode error)
                {
                    throw new QmpException($"QMP {command} failed: {error["desc"]?.GetValue<string>() ?? error.ToJsonString()}");
                }

                return message["return"];
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Waits for an event named <paramref name="name"/> that <paramref name="matches"/> (already received ones count,
    /// and are consumed), reading QEMU's messages until it arrives; a QmpException at the deadline.
    /// </summary>
    /// <param name="name">The event's name ("DEVICE_DELETED").</param>
    /// <param name="matches">Picks the event wanted among those of that name (by its data).</param>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="QmpException">No such event in time, or QEMU closed the monitor.</exception>
    public async Task<JsonNode> WaitForEventAsync(string name, Func<JsonNode, bool> matches, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                lock (Events)
                {
                    int i = Events.FindIndex(e => e["event"]?.GetValue<string>() == name && matches(e));
                    if (i >= 0)
                    {
                        var found = Events[i];
                        Events.RemoveAt(i);
                        return found;
                    }
                }

                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    throw new QmpException($"QMP: no {name} event within {timeout.TotalSeconds:F0} s");
                }

                var message = await ReadMessageAsync(left, cancellationToken);
                if (message["event"] is not null)
                {
                    lock (Events)
                    {
                        Events.Add(message);
                    }
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Human monitor command through QMP (e.g. "info pci"); returns its text output.</summary>
    /// <exception cref="QmpException">QEMU refused it or did not answer within 30 s.</exception>
    public async Task<string> HumanAsync(string commandLine, CancellationToken cancellationToken = default) =>
        (await ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = commandLine }, null, cancellationToken))?.GetValue<string>() ?? "";

    private async Task<JsonNode> ReadMessageAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        string? line;
        try
        {
            line = await _reader.ReadLineAsync(cts.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new QmpException($"QMP: no answer within {timeout.TotalSeconds:F0} s");
        }

        return line is null
            ? throw new QmpException("QMP: QEMU closed the monitor connection")
            : JsonNode.Parse(line) ?? throw new QmpException("QMP: empty message");
    }

    /// <summary>Closes the monitor connection.</summary>
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

/// <summary>A QMP command failed, timed out, or QEMU closed the monitor.</summary>
/// <param name="message">What failed, with QEMU's error description when it gave one.</param>
public sealed class QmpException(string message) : Exception(message);
