using Microsoft.Win32.SafeHandles;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>
/// One message received as is (raw API): its header, a copy of its payload and the fds that came with it.
/// Disposing closes the fds not taken.
/// </summary>
public sealed class VfioUserMessage : IDisposable
{
    private readonly List<SafeFileHandle?> _fds;

    internal VfioUserMessage(MessageHeader header, byte[] payload, List<SafeFileHandle?> fds)
    {
        Header = header;
        Payload = payload;
        _fds = fds;
    }

    /// <summary>The header as received, unchecked.</summary>
    public MessageHeader Header { get; }

    /// <summary>A copy of the bytes after the header (empty for a header-only message); the message's to keep.</summary>
    public byte[] Payload { get; }

    /// <summary>The whole message size as received (header included).</summary>
    public int Size => MessageHeader.Length + Payload.Length;

    /// <summary>The header's message id.</summary>
    public ushort Id => Header.Id;

    /// <summary>The header's command.</summary>
    public VfioUserCommand Command => Header.Command;

    /// <summary>Whether the message is a reply (type 1) rather than a server→client request.</summary>
    public bool IsReply => Header.IsReply;

    /// <summary>Whether the ERROR flag is set; <see cref="Errno"/> then says why.</summary>
    public bool IsError => Header.IsError;

    /// <summary>The errno of an error reply (0 otherwise).</summary>
    public int Errno => Header.IsError ? (int)Header.Error : 0;

    /// <summary>Fds that came with the message, taken ones included.</summary>
    public int FdCount => _fds.Count;

    /// <summary>
    /// Transfers ownership of fd <paramref name="index"/> to the caller. Throws <see cref="ArgumentOutOfRangeException"/>
    /// for an index outside 0..FdCount-1 and <see cref="InvalidOperationException"/> for an fd already taken.
    /// </summary>
    public SafeFileHandle TakeFd(int index)
    {
        var fd = _fds[index] ?? throw new InvalidOperationException($"fd {index} was already taken");
        _fds[index] = null;
        return fd;
    }

    /// <summary>One line for logs and test messages: command, id, size, flags, errno and fd count.</summary>
    public override string ToString() =>
        $"{Header.Command} id {Header.Id} size {Header.Size} flags 0x{(uint)Header.Flags:x}{(IsError ? $" {Interop.Errno.Name(Errno)}" : "")}{(_fds.Count > 0 ? $" +{_fds.Count} fd(s)" : "")}";

    /// <summary>Closes the fds not taken.</summary>
    public void Dispose()
    {
        foreach (var fd in _fds)
        {
            fd?.Dispose();
        }

        _fds.Clear();
    }
}
