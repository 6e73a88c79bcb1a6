using Microsoft.Extensions.Logging;
using PcieEmu.Interop;
using PcieEmu.Pci;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Server;
using PcieEmu.VfioUser.Transport;

namespace PcieEmu.VfioUser.Tests.Infrastructure;

public enum TransportKind
{
    /// <summary>InMemoryTransport pair; the connection runs on a test thread.</summary>
    InMemory,

    /// <summary>A real AF_UNIX socketpair; the connection runs on a test thread.</summary>
    SocketPair,

    /// <summary>The real VfioUserServer listening on a temporary path; the client connects to it.</summary>
    Listener,
}

public static class Transports
{
    public static TheoryData<TransportKind> All => new() { TransportKind.InMemory, TransportKind.SocketPair, TransportKind.Listener };

    public static TheoryData<TransportKind> InMemoryAndSocket => new() { TransportKind.InMemory, TransportKind.SocketPair };
}

/// <summary>
/// A test device served over one transport kind, with a <see cref="VfioUserClient"/> attached. Dispose closes the
/// client, waits (bounded) for the session to end and fails if the server thread threw or logged a crash.
/// </summary>
internal sealed class ServerHarness : IDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    private readonly ManualResetEventSlim _sessionStarted = new();
    private readonly ManualResetEventSlim _sessionEnded = new();
    private VfioUserConnection? _connection;
    private Thread? _thread;
    private Task? _runTask;
    private Exception? _crash;
    private bool _disposed;

    private ServerHarness(TransportKind kind, VfioUserServerOptions options)
    {
        Kind = kind;
        Options = options;
        Device = new TestDevice(Logs);
    }

    public TransportKind Kind { get; }

    public VfioUserServerOptions Options { get; }

    public TestLoggerFactory Logs { get; } = new();

    public TestDevice Device { get; }

    public PciFunction Function => Device.Function;

    public VfioUserClient Client { get; private set; } = null!;

    public VfioUserServer? Server { get; private set; }

    public string? SocketPath { get; private set; }

    /// <summary>The server side of the session (waits for the listener to accept).</summary>
    public VfioUserConnection Connection
    {
        get
        {
            if (!_sessionStarted.Wait(Bound))
            {
                throw new TimeoutException("the server never started a session");
            }

            return _connection!;
        }
    }

    public static ServerHarness Start(TransportKind kind, VfioUserServerOptions? options = null, VfioUserClientOptions? clientOptions = null,
        bool negotiate = true, bool startServer = true)
    {
        var h = new ServerHarness(kind, options ?? new VfioUserServerOptions());
        try
        {
            h.Open(clientOptions ?? new VfioUserClientOptions(), startServer);
            if (negotiate)
            {
                h.Client.Negotiate();
            }

            return h;
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    private void Open(VfioUserClientOptions clientOptions, bool startServer)
    {
        switch (Kind)
        {
            case TransportKind.InMemory:
                {
                    var (server, client) = InMemoryTransport.CreatePair();
                    _connection = new VfioUserConnection(server, Function, Options, Logs);
                    Client = new VfioUserClient(client, clientOptions);
                    break;
                }

            case TransportKind.SocketPair:
                {
                    var (a, b) = SocketPairs.Create();
                    UnixSocketTransport? transport = new(a, Options.MaxFdsPerMessage, "socketpair(server)");
                    try
                    {
                        _connection = new VfioUserConnection(transport, Function, Options, Logs);
                        transport = null; // the connection's now
                    }
                    catch
                    {
                        b.Dispose();
                        throw;
                    }
                    finally
                    {
                        transport?.Dispose();
                    }

                    Client = VfioUserClient.FromSocket(b, clientOptions, "socketpair(client)");
                    break;
                }

            default:
                {
                    SocketPath = Path.Combine(Path.GetTempPath(), $"pcieemu-{Guid.NewGuid():N}.sock");
                    Server = new VfioUserServer(Function, SocketPath, Options, Logs);
                    Server.SessionStarted += c =>
                    {
                        _connection = c;
                        _sessionStarted.Set();
                    };
                    Server.SessionEnded += _ => _sessionEnded.Set();
                    Server.Listen();
                    _runTask = Server.RunAsync();
                    Client = VfioUserClient.Connect(SocketPath, clientOptions);
                    return;
                }
        }

        _sessionStarted.Set();
        if (startServer)
        {
            StartServer();
        }
    }

    /// <summary>Starts the connection's loop (for tests that queue bytes before the server reads any).</summary>
    public void StartServer()
    {
        if (_thread is not null || Kind == TransportKind.Listener)
        {
            return;
        }

        var connection = _connection!;
        _thread = new Thread(() =>
        {
            try
            {
                connection.Run();
            }
            catch (Exception e)
            {
                _crash = e;
            }
            finally
            {
                connection.Dispose();
                _sessionEnded.Set();
            }
        })
        { IsBackground = true, Name = $"test-server-{Kind}" };
        _thread.Start();
    }

    public bool WaitForSessionEnd(TimeSpan? timeout = null) => _sessionEnded.Wait(timeout ?? Bound);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Client?.Dispose();
        bool ended = _thread is null && Kind != TransportKind.Listener || _sessionEnded.Wait(Bound);
        if (Kind != TransportKind.Listener && _thread is null)
        {
            _connection?.Dispose();
        }

        bool runEnded = true;
        if (Server is not null)
        {
            Server.Dispose();
            runEnded = _runTask!.Wait(Bound);
        }

        Device.Dispose();
        if (ended && runEnded)
        {
            // Only once no server thread is left to signal them.
            _sessionStarted.Dispose();
            _sessionEnded.Dispose();
        }

        if (_crash is not null)
        {
            throw new InvalidOperationException($"the server thread threw: {_crash}", _crash);
        }

        var critical = Logs.AtLeast(LogLevel.Critical).ToList();
        if (critical.Count > 0)
        {
            throw new InvalidOperationException($"the server logged a crash: {critical[0].Message} {critical[0].Exception}");
        }

        if (!ended || !runEnded)
        {
            throw new TimeoutException($"the server did not finish within {Bound} after the client left (session ended: {ended}, Run returned: {runEnded})");
        }
    }
}
