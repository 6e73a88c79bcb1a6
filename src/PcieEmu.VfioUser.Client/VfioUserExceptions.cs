using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>The server broke the protocol (or the connection ended); the client is unusable afterwards.</summary>
public sealed class VfioUserProtocolException : IOException
{
    public VfioUserProtocolException()
    {
    }

    public VfioUserProtocolException(string message)
        : base(message)
    {
    }

    public VfioUserProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The server answered a request with an error reply (flags REPLY|ERROR and an errno).</summary>
public sealed class VfioUserErrorException : IOException
{
    public VfioUserErrorException()
    {
    }

    public VfioUserErrorException(string message)
        : base(message)
    {
    }

    public VfioUserErrorException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public VfioUserErrorException(VfioUserCommand command, ushort id, int errno)
        : base($"server answered {command} (id {id}) with {Interop.Errno.Name(errno)} ({errno})")
    {
        Command = command;
        Id = id;
        Errno = errno;
    }

    public VfioUserCommand Command { get; }

    public ushort Id { get; }

    public int Errno { get; }
}
