using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;

namespace PcieEmu.VfioUser.Transport;

/// <summary>AF_UNIX stream socket: one recvmsg per chunk received, one sendmsg per message sent.</summary>
public sealed class UnixSocketTransport : IMessageTransport
{
    private readonly Socket _socket;
    private readonly byte[] _control;

    public UnixSocketTransport(Socket socket, int maxFdsPerMessage, string description)
    {
        _socket = socket;
        _socket.Blocking = true;
        _control = new byte[UnixMessaging.ControlBufferSize(maxFdsPerMessage)];
        Description = description;
    }

    public string Description { get; }

    public SafeHandle Handle => _socket.SafeHandle;

    public int Receive(Span<byte> buffer, List<SafeFileHandle> fds, out bool fdsTruncated) =>
        UnixMessaging.Receive(_socket.SafeHandle, buffer, _control, fds, out fdsTruncated);

    public int Send(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, ReadOnlySpan<SafeHandle> fds) =>
        UnixMessaging.Send(_socket.SafeHandle, head, tail, fds);

    public void Shutdown()
    {
        if (!_socket.SafeHandle.IsClosed)
        {
            Libc.shutdown(_socket.SafeHandle, Libc.SHUT_RDWR);
        }
    }

    public void Dispose()
    {
        Shutdown();
        _socket.Dispose();
    }
}
