using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Transport;

namespace PcieEmu.VfioUser.Client;

/// <summary>Answers a server→client request that arrived while the channel waited for a reply.</summary>
internal interface IServerRequestHandler
{
    void Serve(in MessageHeader request, ReadOnlySpan<byte> payload, int fdCount);
}

/// <summary>
/// The client's message I/O: message ids, one sendmsg per request, one reusable receive buffer, reply matching
/// (type, id, command, flags, error-reply size, fd count) and bounded waits. Timeouts cost no syscall: a watchdog
/// shuts the transport down when a wait overruns, which unblocks the receive. Once the server breaks the protocol
/// or goes silent, the channel is unusable and says why.
/// </summary>
internal sealed class ClientChannel : IDisposable
{
    /// <summary>Room for a header plus the largest fixed request/reply head.</summary>
    public const int HeadRoom = 64;

    private readonly IMessageTransport _transport;
    private readonly MessageReader _reader;
    private readonly Timer _watchdog;
    private readonly int _timeoutMs;
    private readonly bool _serveWhileWaiting;
    private readonly int _acceptedFds;
    private long _deadline;
    private volatile bool _timedOut;
    private volatile bool _disposed;
    private string? _brokenReason;

    public ClientChannel(IMessageTransport transport, int maxMessageSize, int acceptedFds, TimeSpan timeout, bool serveWhileWaiting, ILogger logger)
    {
        _transport = transport;
        _acceptedFds = acceptedFds;
        _timeoutMs = (int)timeout.TotalMilliseconds;
        _serveWhileWaiting = serveWhileWaiting;
        _reader = new MessageReader(transport, maxMessageSize, logger);
        SendBuffer = GC.AllocateUninitializedArray<byte>(HeadRoom, pinned: true);
        int period = Math.Clamp(_timeoutMs / 20, 5, 100);
        _watchdog = new Timer(static state => ((ClientChannel)state!).CheckDeadline(), this, period, period);
    }

    public string Description => _transport.Description;

    /// <summary>The fds of the message last read; whoever keeps one takes it, the rest are closed on the next read.</summary>
    public ReceivedFds Fds { get; } = new();

    /// <summary>A pinned buffer for building fixed-size requests (header + head) without allocating.</summary>
    public byte[] SendBuffer { get; }

    /// <summary>Answers server requests that arrive while a reply is awaited.</summary>
    public IServerRequestHandler? RequestHandler { get; set; }

    public int MaxMessageSize => _reader.MaxMessageSize;

    public long RequestsSent { get; private set; }

    public string? BrokenReason => _brokenReason;

    /// <summary>The id the next request will carry (ids count up from 0 and wrap, like QEMU's).</summary>
    public ushort NextId { get; private set; }

    public ushort TakeId() => NextId++;

    /// <summary>Sends one request (head, tail and fds in one sendmsg); a failure makes the channel unusable.</summary>
    public void Send(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, ReadOnlySpan<SafeHandle> fds, VfioUserCommand command, ushort id)
    {
        ThrowIfUnusable();
        int r = _transport.Send(head, tail, fds);
        if (r != 0)
        {
            throw Broken(new VfioUserProtocolException($"{Description}: sending {command} (id {id}) failed: {Interop.Errno.Name(-r)}"));
        }

        RequestsSent++;
    }

    /// <summary>Sends our reply to a server request; a failure makes the channel unusable.</summary>
    public void SendReply(ReadOnlySpan<byte> message, in MessageHeader request)
    {
        int r = _transport.Send(message, default, default);
        if (r != 0)
        {
            throw Broken(new VfioUserProtocolException(
                $"{Description}: answering the server's {request.Command} (id {request.Id}) failed: {Interop.Errno.Name(-r)}"));
        }
    }

    public long DeadlineAfter(TimeSpan? timeout)
    {
        long ms = timeout is { } t ? Math.Max(1, (long)t.TotalMilliseconds) : _timeoutMs;
        return Environment.TickCount64 + ms;
    }

    /// <summary>Reads the next message before <paramref name="deadline"/>. False only at a clean end of stream when allowed.</summary>
    public bool ReadNext(long deadline, string waitingFor, out MessageHeader header, out ReadOnlySpan<byte> payload, bool endOfStreamIsError)
    {
        ThrowIfUnusable();
        Fds.Release();
        long waitMs = deadline - Environment.TickCount64;
        Volatile.Write(ref _deadline, deadline);
        ReadStatus status;
        try
        {
            status = _reader.Read(out header, out payload, Fds);
        }
        finally
        {
            Volatile.Write(ref _deadline, 0);
        }

        if (_timedOut)
        {
            Fds.Release();
            throw Broken(new TimeoutException($"{Description}: no message from the server within {waitMs} ms while waiting for {waitingFor}"));
        }

        switch (status)
        {
            case ReadStatus.Message:
                if (Fds.Truncated)
                {
                    Fds.Release();
                    throw Broken(new VfioUserProtocolException(
                        $"{Description}: {header.Command} id {header.Id} carried more fds than the {_acceptedFds} this client accepts (MSG_CTRUNC)"));
                }

                return true;
            case ReadStatus.EndOfStream when !endOfStreamIsError:
                _brokenReason = "the server closed the connection";
                return false;
            case ReadStatus.EndOfStream:
                throw Broken(new VfioUserProtocolException($"{Description}: the server closed the connection while we waited for {waitingFor}"));
            case ReadStatus.Oversize:
                Fds.Release();
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
    public void AwaitReply(ushort id, VfioUserCommand command, int maxFds, long deadline, out MessageHeader header, out ReadOnlySpan<byte> payload,
        bool checkFlags = true)
    {
        while (true)
        {
            ReadNext(deadline, "a reply", out header, out payload, endOfStreamIsError: true);
            var type = header.Type;
            if (type == VfioUserFlags.Command)
            {
                if (!_serveWhileWaiting || RequestHandler is not { } handler)
                {
                    throw Broken(new VfioUserProtocolException(
                        $"{Description}: the server sent request {header.Command} id {header.Id} while {command} id {id} was outstanding"));
                }

                handler.Serve(header, payload, Fds.Count);
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

            if (Fds.Count > (header.IsError ? 0 : maxFds))
            {
                int n = Fds.Count;
                Fds.Release();
                throw Broken(new VfioUserProtocolException($"{Description}: reply to {command} id {id} carried {n} unexpected fd(s)"));
            }

            return;
        }
    }

    /// <summary>An errno reply becomes <see cref="VfioUserErrorException"/> (the connection stays usable).</summary>
    public static void ThrowIfError(in MessageHeader header)
    {
        if (header.IsError)
        {
            throw new VfioUserErrorException(header.Command, header.Id, (int)header.Error);
        }
    }

    /// <summary>A reply that breaks the protocol: the channel becomes unusable.</summary>
    public VfioUserProtocolException Violation(VfioUserCommand command, ushort id, string what) =>
        Broken(new VfioUserProtocolException($"{Description}: reply to {command} id {id}: {what}"));

    /// <summary>Marks the channel unusable (first reason wins) and shuts the transport down.</summary>
    public T Broken<T>(T exception)
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

    /// <summary>A copy of the message last read, owning its fds (raw API).</summary>
    public VfioUserMessage Capture(in MessageHeader header, ReadOnlySpan<byte> payload)
    {
        var fds = new List<SafeFileHandle?>(Fds.Count);
        for (int i = 0; i < Fds.Count; i++)
        {
            fds.Add(Fds.Take(i));
        }

        Fds.Release();
        return new VfioUserMessage(header, payload.ToArray(), fds);
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

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _watchdog.Dispose();
        _transport.Dispose();
        Fds.Release();
    }
}
