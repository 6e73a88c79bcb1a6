using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Transport;

namespace PcieEmu.VfioUser.Client;

/// <summary>
/// A vfio-user client over any <see cref="IMessageTransport"/>: it plays QEMU's part against a server (ours or
/// libvfio-user's). Typed commands validate every reply (type, id, command, flags, size, echoed fields, fds) and
/// throw <see cref="VfioUserErrorException"/> for an errno reply (the connection stays usable), or
/// <see cref="VfioUserProtocolException"/> / <see cref="TimeoutException"/> when the server broke the protocol or
/// went silent (the client is unusable afterwards). Every wait is bounded by <see cref="VfioUserClientOptions.ReplyTimeout"/>.
/// <para>
/// Server→client DMA_READ/DMA_WRITE are answered from <see cref="VfioUserClientOptions.GuestMemory"/>, inline
/// while a reply is awaited, or on demand with <see cref="ServeServerRequests"/>. A raw API
/// (<see cref="Send(VfioUserCommand, ReadOnlySpan{byte}, ReadOnlySpan{SafeHandle}, VfioUserFlags)"/>,
/// <see cref="SendRaw"/>, <see cref="Receive"/>, <see cref="TryReceive"/>) exists for conformance tests.
/// </para>
/// <para>
/// The REGION_READ/REGION_WRITE path allocates nothing: requests are built in a preallocated buffer and sent with one
/// sendmsg; replies land in the reader's reusable buffer (one recvmsg per reply). Timeouts cost no syscall: a
/// watchdog shuts the transport down when a wait overruns, which unblocks the receive.
/// </para>
/// Not thread-safe: use it from one thread at a time.
/// </summary>
public sealed partial class VfioUserClient : IDisposable
{
    /// <summary>Room for a header plus the largest fixed request/reply head.</summary>
    private const int HeadRoom = 64;

    /// <summary>Largest argsz the client follows in a GET_REGION_INFO retry (a defence against a hostile server).</summary>
    private const uint MaxRegionInfoArgsz = 64 * 1024;

    private readonly IMessageTransport _transport;
    private readonly VfioUserClientOptions _options;
    private readonly ILogger _logger;
    private readonly MessageReader _reader;
    private readonly ReceivedFds _fds = new();
    private readonly byte[] _send;
    private readonly Timer _watchdog;
    private readonly int _timeoutMs;
    private byte[]? _serveBuffer;
    private long _deadline;
    private volatile bool _timedOut;
    private volatile bool _disposed;
    private string? _brokenReason;
    private ushort _nextId;

    public VfioUserClient(IMessageTransport transport, VfioUserClientOptions? options = null)
    {
        _transport = transport ?? throw new ArgumentNullException(nameof(transport));
        _options = options ?? new VfioUserClientOptions();
        _logger = _options.Logger ?? NullLogger.Instance;
        if (_options.ReplyTimeout <= TimeSpan.Zero || _options.ReplyTimeout.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "ReplyTimeout must be positive");
        }

        OwnCapabilities = ParseOwnCapabilities(_options.VersionJson);
        MaxDataTransferSize = (int)Math.Min(OwnCapabilities.MaxDataTransferSize, 64L << 20);
        _timeoutMs = (int)_options.ReplyTimeout.TotalMilliseconds;
        _reader = new MessageReader(transport, MaxDataTransferSize + HeadRoom, _logger);
        _send = GC.AllocateUninitializedArray<byte>(HeadRoom, pinned: true);
        int period = Math.Clamp(_timeoutMs / 20, 5, 100);
        _watchdog = new Timer(static state => ((VfioUserClient)state!).CheckDeadline(), this, period, period);
    }

    /// <summary>What this client declared in VERSION (parsed from <see cref="VfioUserClientOptions.VersionJson"/>).</summary>
    public VersionCapabilities OwnCapabilities { get; }

    /// <summary>The largest DMA_READ/DMA_WRITE count this client accepts (its declared max_data_xfer_size).</summary>
    public int MaxDataTransferSize { get; }

    /// <summary>What the server declared in its VERSION reply (spec defaults until then).</summary>
    public VersionCapabilities ServerCapabilities { get; private set; } = new();

    public bool Negotiated { get; private set; }

    public string Description => _transport.Description;

    public VfioUserClientOptions Options => _options;

    /// <summary>Requests this client sent (raw ones included).</summary>
    public long RequestsSent { get; private set; }

    /// <summary>Server→client requests answered (successfully or with an errno).</summary>
    public long ServerRequestsServed { get; private set; }

    /// <summary>Why the client became unusable, or null.</summary>
    public string? BrokenReason => _brokenReason;

    /// <summary>The id the next request will carry (ids count up from 0 and wrap, like QEMU's).</summary>
    public ushort NextId => _nextId;

    /// <summary>Connects to a server listening on a UNIX socket path.</summary>
    public static VfioUserClient Connect(string socketPath, VfioUserClientOptions? options = null)
    {
        UnixSocketPath.ThrowIfTooLong(socketPath);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return FromSocket(socket, options, $"unix:{socketPath}(client)");
    }

    /// <summary>Wraps a connected AF_UNIX stream socket (for example one end of a socketpair). Takes ownership.</summary>
    public static VfioUserClient FromSocket(Socket socket, VfioUserClientOptions? options = null, string? description = null)
    {
        options ??= new VfioUserClientOptions();
        int maxFds = Math.Clamp(ParseOwnCapabilities(options.VersionJson).MaxMsgFds, 1, 253);
        var transport = new UnixSocketTransport(socket, maxFds, description ?? "unix(client)");
        try
        {
            return new VfioUserClient(transport, options);
        }
        catch
        {
            transport.Dispose();
            throw;
        }
    }

    // ------------------------------------------------------------------ raw API

    /// <summary>
    /// Sends one request with a fresh id: a header (size = 16 + payload) and the payload, fds attached, in one
    /// sendmsg. Returns the id. Nothing is validated: this is the conformance tests' tool.
    /// </summary>
    public ushort Send(VfioUserCommand command, ReadOnlySpan<byte> payload, ReadOnlySpan<SafeHandle> fds = default,
        VfioUserFlags flags = VfioUserFlags.Command)
    {
        ushort id = _nextId++;
        Span<byte> head = stackalloc byte[MessageHeader.Length];
        new MessageHeader(id, command, (uint)(MessageHeader.Length + payload.Length), flags, 0).WriteTo(head);
        SendCore(head, payload, fds, command, id);
        return id;
    }

    /// <summary>Sends arbitrary bytes (a hand-made header included) with <paramref name="fds"/> in one sendmsg.</summary>
    public void SendRaw(ReadOnlySpan<byte> message, ReadOnlySpan<SafeHandle> fds = default)
    {
        var command = message.Length >= 4 ? (VfioUserCommand)(message[2] | (message[3] << 8)) : 0;
        SendCore(message, default, fds, command, 0);
    }

    /// <summary>The next message from the server, whatever it is (nothing is answered or validated). Throws at end of stream.</summary>
    public VfioUserMessage Receive(TimeSpan? timeout = null) =>
        TryReceive(out var message, timeout) ? message : throw Broken(new VfioUserProtocolException($"{Description}: the server closed the connection"));

    /// <summary>Like <see cref="Receive"/>, but returns false when the server closed the connection cleanly between messages.</summary>
    public bool TryReceive([NotNullWhen(true)] out VfioUserMessage? message, TimeSpan? timeout = null)
    {
        message = null;
        if (!ReadNext(DeadlineAfter(timeout), "any message", out var header, out var payload, endOfStreamIsError: false))
        {
            return false;
        }

        message = Capture(header, payload);
        return true;
    }

    /// <summary>
    /// Waits for the reply to request (<paramref name="id"/>, <paramref name="command"/>), answering server requests that
    /// arrive first. The reply's type, id and command are checked; an errno reply is returned, not thrown.
    /// </summary>
    public VfioUserMessage ReceiveReply(ushort id, VfioUserCommand command, TimeSpan? timeout = null)
    {
        AwaitReply(id, command, int.MaxValue, DeadlineAfter(timeout), out var header, out var payload, checkFlags: false);
        return Capture(header, payload);
    }

    /// <summary>Send + <see cref="ReceiveReply"/>.</summary>
    public VfioUserMessage Call(VfioUserCommand command, ReadOnlySpan<byte> payload, ReadOnlySpan<SafeHandle> fds = default,
        VfioUserFlags flags = VfioUserFlags.Command, TimeSpan? timeout = null)
    {
        ushort id = Send(command, payload, fds, flags);
        return ReceiveReply(id, command, timeout);
    }

    /// <summary>
    /// Waits for <paramref name="count"/> server→client requests and answers each (DMA_READ/DMA_WRITE from guest
    /// memory, anything else ENOSYS). A reply arriving meanwhile is a protocol error (nothing is outstanding).
    /// </summary>
    public int ServeServerRequests(int count, TimeSpan? timeout = null)
    {
        long deadline = DeadlineAfter(timeout);
        for (int i = 0; i < count; i++)
        {
            ReadNext(deadline, "a server request", out var header, out var payload, endOfStreamIsError: true);
            if (header.Type != VfioUserFlags.Command)
            {
                throw Broken(new VfioUserProtocolException(
                    $"{Description}: unexpected {header.Command} reply id {header.Id} (flags 0x{(uint)header.Flags:x}) while no request was outstanding"));
            }

            ServeRequest(header, payload);
        }

        return count;
    }

    /// <summary>Answers a server request obtained through <see cref="Receive"/> (its fds, if any, make it EINVAL).</summary>
    public void AnswerServerRequest(VfioUserMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Header.Type != VfioUserFlags.Command)
        {
            throw new ArgumentException($"{request} is not a request", nameof(request));
        }

        ServeRequest(request.Header, request.Payload, request.FdCount);
    }

    // ------------------------------------------------------------------ core

    private void SendCore(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, ReadOnlySpan<SafeHandle> fds, VfioUserCommand command, ushort id)
    {
        ThrowIfUnusable();
        int r = _transport.Send(head, tail, fds);
        if (r != 0)
        {
            throw Broken(new VfioUserProtocolException($"{Description}: sending {command} (id {id}) failed: {Interop.Errno.Name(-r)}"));
        }

        RequestsSent++;
    }

    private long DeadlineAfter(TimeSpan? timeout)
    {
        long ms = timeout is { } t ? Math.Max(1, (long)t.TotalMilliseconds) : _timeoutMs;
        return Environment.TickCount64 + ms;
    }

    /// <summary>Reads the next message before <paramref name="deadline"/>. False only at a clean end of stream when allowed.</summary>
    private bool ReadNext(long deadline, string waitingFor, out MessageHeader header, out ReadOnlySpan<byte> payload, bool endOfStreamIsError)
    {
        ThrowIfUnusable();
        _fds.Release();
        long waitMs = deadline - Environment.TickCount64;
        Volatile.Write(ref _deadline, deadline);
        ReadStatus status;
        try
        {
            status = _reader.Read(out header, out payload, _fds);
        }
        finally
        {
            Volatile.Write(ref _deadline, 0);
        }

        if (_timedOut)
        {
            _fds.Release();
            throw Broken(new TimeoutException($"{Description}: no message from the server within {waitMs} ms while waiting for {waitingFor}"));
        }

        switch (status)
        {
            case ReadStatus.Message:
                if (_fds.Truncated)
                {
                    _fds.Release();
                    throw Broken(new VfioUserProtocolException(
                        $"{Description}: {header.Command} id {header.Id} carried more fds than the {OwnCapabilities.MaxMsgFds} this client accepts (MSG_CTRUNC)"));
                }

                return true;
            case ReadStatus.EndOfStream when !endOfStreamIsError:
                _brokenReason = "the server closed the connection";
                return false;
            case ReadStatus.EndOfStream:
                throw Broken(new VfioUserProtocolException($"{Description}: the server closed the connection while we waited for {waitingFor}"));
            case ReadStatus.Oversize:
                _fds.Release();
                throw Broken(new VfioUserProtocolException(
                    $"{Description}: the server sent a {header.Size}-byte {header.Command} message (id {header.Id}); this client accepts at most {_reader.MaxMessageSize} bytes"));
            default:
                throw Broken(new VfioUserProtocolException($"{Description}: {_reader.FatalReason ?? "receive failed"} (waiting for {waitingFor})"));
        }
    }

    /// <summary>
    /// Waits for the reply to (<paramref name="id"/>, <paramref name="command"/>), serving server requests that come
    /// first, and checks type, id, command, flags, the error-reply size and the number of fds.
    /// </summary>
    private void AwaitReply(ushort id, VfioUserCommand command, int maxFds, long deadline, out MessageHeader header, out ReadOnlySpan<byte> payload,
        bool checkFlags = true)
    {
        while (true)
        {
            ReadNext(deadline, "a reply", out header, out payload, endOfStreamIsError: true);
            var type = header.Type;
            if (type == VfioUserFlags.Command)
            {
                if (!_options.ServeServerRequestsWhileWaiting)
                {
                    throw Broken(new VfioUserProtocolException(
                        $"{Description}: the server sent request {header.Command} id {header.Id} while {command} id {id} was outstanding"));
                }

                ServeRequest(header, payload);
                continue;
            }

            if (type != VfioUserFlags.Reply)
            {
                throw Broken(new VfioUserProtocolException($"{Description}: unknown message type {(uint)type} (flags 0x{(uint)header.Flags:x})"));
            }

            if (header.Id != id || header.Command != command)
            {
                throw Broken(new VfioUserProtocolException(
                    $"{Description}: reply {header.Command} id {header.Id} does not match the outstanding request {command} id {id}"));
            }

            if (checkFlags && ((uint)header.Flags & ~(uint)(VfioUserFlags.TypeMask | VfioUserFlags.Error)) != 0)
            {
                throw Broken(new VfioUserProtocolException(
                    $"{Description}: reply to {command} id {id} has flags 0x{(uint)header.Flags:x}; only REPLY (0x1) and ERROR (0x20) are valid"));
            }

            if (checkFlags && header.IsError && header.Size != MessageHeader.Length)
            {
                throw Broken(new VfioUserProtocolException(
                    $"{Description}: error reply to {command} id {id} is {header.Size} bytes; an error reply is the 16-byte header only"));
            }

            if (_fds.Count > (header.IsError ? 0 : maxFds))
            {
                int n = _fds.Count;
                _fds.Release();
                throw Broken(new VfioUserProtocolException($"{Description}: reply to {command} id {id} carried {n} unexpected fd(s)"));
            }

            return;
        }
    }

    private void ThrowIfError(in MessageHeader header)
    {
        if (header.IsError)
        {
            throw new VfioUserErrorException(header.Command, header.Id, (int)header.Error);
        }
    }

    private VfioUserProtocolException Violation(VfioUserCommand command, ushort id, string what) =>
        Broken(new VfioUserProtocolException($"{Description}: reply to {command} id {id}: {what}"));

    private T Broken<T>(T exception)
        where T : Exception
    {
        _brokenReason ??= exception.Message;
        try
        {
            _transport.Shutdown();
        }
        catch (ObjectDisposedException)
        {
        }

        return exception;
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_brokenReason is not null)
        {
            throw new VfioUserProtocolException($"{Description}: the connection is unusable: {_brokenReason}");
        }
    }

    private void CheckDeadline()
    {
        long deadline = Volatile.Read(ref _deadline);
        if (deadline == 0 || _disposed || _timedOut || Environment.TickCount64 <= deadline)
        {
            return;
        }

        _timedOut = true;
        try
        {
            _transport.Shutdown(); // unblocks the receive; the waiting thread reports the timeout
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private VfioUserMessage Capture(in MessageHeader header, ReadOnlySpan<byte> payload)
    {
        var fds = new List<SafeFileHandle?>(_fds.Count);
        for (int i = 0; i < _fds.Count; i++)
        {
            fds.Add(_fds.Take(i));
        }

        _fds.Release();
        return new VfioUserMessage(header, payload.ToArray(), fds);
    }

    private static VersionCapabilities ParseOwnCapabilities(string? json)
    {
        if (json is null)
        {
            return new VersionCapabilities();
        }

        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(json) + 1];
        Encoding.UTF8.GetBytes(json, bytes);
        return VersionCapabilities.TryParse(bytes, out var caps, out string? error)
            ? caps
            : throw new ArgumentException($"VersionJson is not valid vfio-user capabilities: {error}");
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _watchdog.Dispose();
        _transport.Dispose();
        _fds.Release();
    }
}
