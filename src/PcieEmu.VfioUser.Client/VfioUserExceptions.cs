using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>The server broke the protocol (or the connection ended); the client is unusable afterwards.</summary>
public sealed class VfioUserProtocolException : IOException
{
    /// <summary>An exception with the default message.</summary>
    public VfioUserProtocolException()
    {
    }

    /// <summary>An exception saying what the server did wrong (the client's messages start with its description).</summary>
    public VfioUserProtocolException(string message)
        : base(message)
    {
    }

    /// <summary>As <see cref="VfioUserProtocolException(string)"/>, caused by <paramref name="innerException"/>.</summary>
    public VfioUserProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The server answered a request with an error reply (flags REPLY|ERROR and an errno).</summary>
public sealed class VfioUserErrorException : IOException
{
    /// <summary>An exception with the default message and no command, id or errno.</summary>
    public VfioUserErrorException()
    {
    }

    /// <summary>An exception with <paramref name="message"/> and no command, id or errno.</summary>
    public VfioUserErrorException(string message)
        : base(message)
    {
    }

    /// <summary>As <see cref="VfioUserErrorException(string)"/>, caused by <paramref name="innerException"/>.</summary>
    public VfioUserErrorException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The error reply to request <paramref name="id"/> of <paramref name="command"/>, carrying <paramref name="errno"/>.</summary>
    public VfioUserErrorException(VfioUserCommand command, ushort id, int errno)
        : base($"server answered {command} (id {id}) with {Interop.Errno.Name(errno)} ({errno})")
    {
        Command = command;
        Id = id;
        Errno = errno;
    }

    /// <summary>The command the server refused.</summary>
    public VfioUserCommand Command { get; }

    /// <summary>The id of the refused request.</summary>
    public ushort Id { get; }

    /// <summary>The errno of the reply (<see cref="Interop.Errno"/>: EINVAL for a request the server found malformed).</summary>
    public int Errno { get; }
}
