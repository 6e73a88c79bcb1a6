using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using PcieEmu.Interop;
using PcieEmu.Pci;
using PcieEmu.Pci.Logging;
using PcieEmu.VfioUser.Transport;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// Serves one PCI function on a UNIX socket (mode 0600) to one client at a time. A second client while one
/// is attached is refused. With <see cref="VfioUserServerOptions.Persist"/> the next client is accepted after
/// a disconnect; otherwise the server ends with its first client. A connection that leaves without sending a
/// message (another server probing whether this socket is alive) is not that client.
/// The socket path is never taken from someone else: only a socket nobody listens on is removed as stale, anything
/// else at the path (a live server's socket, a file, a FIFO, a link) is refused and left as it is, and Dispose
/// removes only the socket this server bound, while the path still is that socket.
/// </summary>
public sealed partial class VfioUserServer : IDisposable
{
    private readonly PciFunction _function;
    private readonly VfioUserServerOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly object _sync = new();
    private readonly RateLimitedLog _refusals;
    private Socket? _listener;
#pragma warning disable CA2213 // the session belongs to the thread serving it (Serve disposes it); Dispose shuts it down
    private VfioUserConnection? _current;
#pragma warning restore CA2213
    private FileStatus? _bound;
    private bool _servedItsClient;
    private volatile bool _stopping;

    /// <summary>
    /// A server for <paramref name="function"/> at <paramref name="socketPath"/> (made absolute against the current
    /// directory). Nothing is bound until <see cref="Listen"/>. The function is not owned: it outlives the server, and
    /// sessions reset it when their client leaves. Loggers are created from <paramref name="loggerFactory"/>
    /// (categories PcieEmu.VfioUser.*).
    /// </summary>
    public VfioUserServer(PciFunction function, string socketPath, VfioUserServerOptions options, ILoggerFactory loggerFactory)
    {
        _function = function;
        SocketPath = Path.GetFullPath(socketPath);
        _options = options;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("PcieEmu.VfioUser.Server");
        _refusals = new RateLimitedLog(options.RefusedClientLogInterval, options.TimeProvider);
    }

    /// <summary>The absolute path of the socket, the one QEMU's vfio-user-pci device connects to.</summary>
    public string SocketPath { get; }

    /// <summary>The function served.</summary>
    public PciFunction Function => _function;

    /// <summary>Sessions served so far (finished ones included).</summary>
    public int SessionCount { get; private set; }

    /// <summary>Clients refused so far because one was attached (or, without Persist, had been served).</summary>
    public long RefusedClients => _refusals.Total;

    /// <summary>The attached session, if any.</summary>
    public VfioUserConnection? Current
    {
        get
        {
            lock (_sync)
            {
                return _current;
            }
        }
    }

    /// <summary>The last session that ended (for statistics after a client left).</summary>
    public VfioUserConnection? Last { get; private set; }

    /// <summary>Raised on the accept thread when a client is accepted, before its session thread starts serving it.</summary>
    public event Action<VfioUserConnection>? SessionStarted;

    /// <summary>Raised on the session thread after the session ended and released the client's mappings and fds.</summary>
    public event Action<VfioUserConnection>? SessionEnded;

    /// <summary>
    /// Binds and listens. The socket file is 0600 before anyone can connect. Fails with an <see cref="IOException"/>
    /// (message without the path) when the path is too long for a UNIX socket, is in use by a live server, or holds
    /// anything but a stale socket.
    /// </summary>
    public void Listen()
    {
        UnixSocketPath.ThrowIfTooLong(SocketPath);
        RemoveStaleSocket();
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new ListenerEndPoint(SocketPath));
            lock (_sync)
            {
                _bound = FileStatus.OfLink(SocketPath);
            }

            File.SetUnixFileMode(SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(4);
        }
        catch
        {
            listener.Dispose();
            RemoveOwnSocket();
            throw;
        }

        _listener = listener;
        LogListening(_logger, SocketPath, _function.Name);
    }

    /// <summary>
    /// Accepts and serves clients, each session on a thread of its own, until <see cref="Dispose"/> (or, without
    /// Persist, until the first client leaves); then waits for the last session to end. Blocks the calling thread.
    /// Throws <see cref="InvalidOperationException"/> before <see cref="Listen"/>.
    /// </summary>
    public void Run()
    {
        var listener = _listener ?? throw new InvalidOperationException("Listen() first");
        Thread? sessionThread = null;
        while (!_stopping)
        {
            Socket client;
            try
            {
                client = listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                break;
            }

            VfioUserConnection session;
            lock (_sync)
            {
                // Keep accepting while a session runs so that extra clients are refused at once rather than left
                // waiting in the backlog; without Persist only the first client is ever served (its end closes the
                // listener, which ends this loop).
                if (_current is not null || _servedItsClient)
                {
                    client.Dispose();
                    NoteRefusedClient();
                    continue;
                }

                UnixSocketTransport? transport = new(client, _options.MaxFdsPerMessage, $"unix:{SocketPath}#{SessionCount + 1}");
                try
                {
                    session = _current = new VfioUserConnection(transport, _function, _options, _loggerFactory);
                    transport = null; // the session's now
                }
                finally
                {
                    // No session took the client: close its socket now, not when a finalizer gets to it.
                    transport?.Dispose();
                }

                SessionCount++;
            }

            SessionStarted?.Invoke(session);
            sessionThread = new Thread(() => Serve(session)) { IsBackground = true, Name = $"vfio-user-{SessionCount}" };
            sessionThread.Start();
        }

        sessionThread?.Join();
    }

    /// <summary>Runs <see cref="Run"/> on a dedicated thread.</summary>
    public Task RunAsync() => Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Serve(VfioUserConnection session)
    {
        try
        {
            session.Run();
        }
        catch (Exception e)
        {
            // A bug, not client input (handlers return errnos); keep the process alive and the evidence.
            LogSessionCrashed(_logger, e, session.Description);
        }
        finally
        {
            session.Dispose();
            lock (_sync)
            {
                _current = null;
                Last = session;

                // Without Persist the first client that said anything is the only one (the probe of a second server
                // connects and leaves in silence: it must not end this server).
                _servedItsClient |= !_options.Persist && session.Statistics.Messages > 0;
            }

            ReportHeldBackRefusals();
            SessionEnded?.Invoke(session);
            if (!_options.Persist && session.Statistics.Messages > 0)
            {
                _listener?.Dispose();
                RemoveOwnSocket();
            }
        }
    }

    private void NoteRefusedClient()
    {
        if (_refusals.ShouldLog(out long heldBack))
        {
            if (heldBack == 0)
            {
                LogRefusedSecondClient(_logger, SocketPath, _refusals.Interval.TotalSeconds);
            }
            else
            {
                LogRefusedClients(_logger, heldBack + 1, SocketPath);
            }
        }
    }

    /// <summary>Reports the refusals not logged yet, so a burst that stopped is still counted in the log.</summary>
    private void ReportHeldBackRefusals()
    {
        if (_refusals.TakeHeldBack() is > 0 and var n)
        {
            LogRefusedClients(_logger, n, SocketPath);
        }
    }

    /// <summary>
    /// Removes a socket file nobody listens on (a crashed server's leftover). Anything else at the path is not ours:
    /// it is refused and left untouched. The type is read without following links, so a link is refused too.
    /// </summary>
    private void RemoveStaleSocket()
    {
        if (FileStatus.OfLink(SocketPath) is not { } found)
        {
            return;
        }

        if (found.Kind != FileKind.Socket)
        {
            throw new IOException($"it is {FileStatus.Describe(found.Kind)}, not a socket (left untouched; remove it or choose another path)");
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
        try
        {
            // Non-blocking: a live server with a full backlog must not hang us; it answers EAGAIN, i.e. "in use".
            probe.Connect(new UnixDomainSocketEndPoint(SocketPath));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            // Nobody listens. Unlink only if the path still is the socket we probed.
            if (FileStatus.OfLink(SocketPath) is { } now && now.IsSameObjectAs(found))
            {
                File.Delete(SocketPath);
            }

            return;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
        }

        throw new IOException("in use by another server");
    }

    /// <summary>Unlinks the socket this server bound, if the path still is that socket (someone may have replaced it).</summary>
    private void RemoveOwnSocket()
    {
        FileStatus? bound;
        lock (_sync)
        {
            bound = _bound;
            _bound = null;
        }

        if (bound is not { } ours)
        {
            return;
        }

        try
        {
            if (FileStatus.OfLink(SocketPath) is { Kind: FileKind.Socket } now && now.IsSameObjectAs(ours))
            {
                File.Delete(SocketPath);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover socket is removed as stale by the next server.
        }
    }

    /// <summary>
    /// Stops accepting, ends the attached session (its client sees the socket close) and removes the socket file if it
    /// still is the one this server bound. <see cref="Run"/> returns once the session has cleaned up.
    /// </summary>
    public void Dispose()
    {
        _stopping = true;
        _listener?.Dispose();
        Current?.Shutdown();
        RemoveOwnSocket();
        ReportHeldBackRefusals();
    }

    [LoggerMessage(EventId = 1050, Level = LogLevel.Information, Message = "Listening on {Path} for {Function}")]
    private static partial void LogListening(ILogger logger, string path, string function);

    [LoggerMessage(EventId = 1051, Level = LogLevel.Warning, Message = "Refused a second client on {Path}: one is already attached (further refusals are counted and reported at most every {Seconds} s)")]
    private static partial void LogRefusedSecondClient(ILogger logger, string path, double seconds);

    [LoggerMessage(EventId = 1053, Level = LogLevel.Warning, Message = "Refused {Count} more client(s) on {Path} since the last report: one was already attached")]
    private static partial void LogRefusedClients(ILogger logger, long count, string path);

    [LoggerMessage(EventId = 1052, Level = LogLevel.Critical, Message = "Session {Session} ended with an unexpected exception")]
    private static partial void LogSessionCrashed(ILogger logger, Exception exception, string session);
}
