using System.Net;
using System.Net.Sockets;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// The listening socket's address: the same sockaddr_un as a <see cref="UnixDomainSocketEndPoint"/>, but not one.
/// .NET's Socket.Dispose unlinks the path a UnixDomainSocketEndPoint was bound to, whatever is at that path by then
/// (another server's socket, if ours was replaced). Binding with this type leaves the unlink to the server, which
/// first checks that the path still is the socket it bound.
/// </summary>
internal sealed class ListenerEndPoint(string path) : EndPoint
{
    private readonly UnixDomainSocketEndPoint _address = new(path);

    public override AddressFamily AddressFamily => AddressFamily.Unix;

    public override SocketAddress Serialize() => _address.Serialize();

    public override EndPoint Create(SocketAddress socketAddress) => _address.Create(socketAddress);

    public override string ToString() => _address.ToString();
}
