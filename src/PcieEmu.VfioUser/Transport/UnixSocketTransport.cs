using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;

namespace PcieEmu.VfioUser.Transport;

/// <summary>
/// AF_UNIX stream socket: one recvmsg per chunk received, one send/sendmsg per message sent. A thread that enables
/// batching (<see cref="TryBatchSendWithReceive"/>) gets an io_uring of its own: a reply handed to
/// <see cref="SendBeforeReceive"/> and the receive of the next request then cost one system call instead of two.
/// Owns the socket: <see cref="Dispose"/> closes it.
/// </summary>
public sealed class UnixSocketTransport : IMessageTransport
{
    /// <summary>Replies up to this size may wait for the next receive (one skb: atomic against other senders).</summary>
    public const int MaxBatchedSend = 4096;

    private readonly Socket _socket;
    private readonly byte[] _control;
    private IoUring? _ring;
    private int _ringThread;
    private byte[]? _pending;
    private int _pendingLength;

    /// <summary>
    /// A transport over a connected AF_UNIX stream <paramref name="socket"/>, which it owns from now on and puts in
    /// blocking mode. A receive accepts up to <paramref name="maxFdsPerMessage"/> fds; the kernel drops any beyond
    /// that and the receive reports them truncated. <paramref name="description"/> names the endpoint in logs.
    /// </summary>
    public UnixSocketTransport(Socket socket, int maxFdsPerMessage, string description)
    {
        _socket = socket;
        _socket.Blocking = true;
        _control = new byte[UnixMessaging.ControlBufferSize(maxFdsPerMessage)];
        Description = description;
    }

    /// <inheritdoc/>
    public string Description { get; }

    /// <summary>The socket's handle, for callers that poll or inspect it; the transport keeps owning it.</summary>
    public SafeHandle Handle => _socket.SafeHandle;

    /// <summary>Whether the calling thread's receives go through io_uring.</summary>
    public bool Batching => _ring is not null && Environment.CurrentManagedThreadId == _ringThread;

    /// <inheritdoc/>
    /// <remarks>
    /// Creates an io_uring owned by the calling thread; false when the kernel refuses one (ENOSYS, EPERM in sandboxes) or
    /// another thread already batches. The ring is released only when that thread disposes the transport (another
    /// thread may be inside io_uring_enter on it).
    /// </remarks>
    public bool TryBatchSendWithReceive(out string reason)
    {
        if (_ring is not null)
        {
            reason = "already enabled for another thread";
            return Batching;
        }

        var ring = IoUring.TryCreate(4, out int errno);
        if (ring is null)
        {
            reason = $"io_uring is unavailable ({Errno.Name(errno)})";
            return false;
        }

        _pending = GC.AllocateUninitializedArray<byte>(MaxBatchedSend, pinned: true);
        _ringThread = Environment.CurrentManagedThreadId;
        _ring = ring;
        reason = "";
        return true;
    }

    /// <inheritdoc/>
    public int Receive(Span<byte> buffer, List<SafeFileHandle> fds, out bool fdsTruncated)
    {
        if (!Batching)
        {
            return UnixMessaging.Receive(_socket.SafeHandle, buffer, _control, fds, out fdsTruncated);
        }

        bool added = false;
        _socket.SafeHandle.DangerousAddRef(ref added);
        try
        {
            int pending = _pendingLength;
            _pendingLength = 0;
            int n = UnixMessaging.SendAndReceive(_ring!, (int)_socket.SafeHandle.DangerousGetHandle(), _pending.AsSpan(0, pending), buffer,
                _control, fds, out fdsTruncated, out int sent);
            if (pending > 0 && sent != pending)
            {
                // The reply did not go out: the stream is broken whatever came in.
                foreach (var fd in fds)
                {
                    fd.Dispose();
                }

                fds.Clear();
                return sent < 0 ? sent : -Errno.EIO;
            }

            return n;
        }
        finally
        {
            _socket.SafeHandle.DangerousRelease();
        }
    }

    /// <inheritdoc/>
    public int Send(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, ReadOnlySpan<SafeHandle> fds)
    {
        if (_pendingLength > 0 && Batching)
        {
            // Keep this thread's messages in order: what waits for the next receive goes first.
            int r = UnixMessaging.Send(_socket.SafeHandle, _pending.AsSpan(0, _pendingLength), default);
            _pendingLength = 0;
            if (r != 0)
            {
                return r;
            }
        }

        return UnixMessaging.Send(_socket.SafeHandle, head, tail, fds);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Without batching on the calling thread, or for a message above <see cref="MaxBatchedSend"/> bytes, this is a
    /// plain send.
    /// </remarks>
    public int SendBeforeReceive(ReadOnlySpan<byte> message)
    {
        if (!Batching || _pendingLength > 0 || message.Length > MaxBatchedSend)
        {
            return Send(message, default, default);
        }

        message.CopyTo(_pending);
        _pendingLength = message.Length;
        return 0;
    }

    /// <inheritdoc/>
    public void Shutdown()
    {
        if (!_socket.SafeHandle.IsClosed)
        {
            UnixMessaging.Shutdown(_socket.SafeHandle);
        }
    }

    /// <summary>Shuts the connection down and closes the socket (and the batching ring, on the thread that made it).</summary>
    public void Dispose()
    {
        Shutdown();
        if (Batching)
        {
            // Only the ring's thread may unmap it: it may be inside io_uring_enter otherwise.
            _ring!.Dispose();
        }

        _socket.Dispose();
    }
}
