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

    public MessageHeader Header { get; }

    public byte[] Payload { get; }

    /// <summary>The whole message size as received (header included).</summary>
    public int Size => MessageHeader.Length + Payload.Length;

    public ushort Id => Header.Id;

    public VfioUserCommand Command => Header.Command;

    public bool IsReply => Header.IsReply;

    public bool IsError => Header.IsError;

    /// <summary>The errno of an error reply (0 otherwise).</summary>
    public int Errno => Header.IsError ? (int)Header.Error : 0;

    public int FdCount => _fds.Count;

    /// <summary>Transfers ownership of fd <paramref name="index"/> to the caller.</summary>
    public SafeFileHandle TakeFd(int index)
    {
        var fd = _fds[index] ?? throw new InvalidOperationException($"fd {index} was already taken");
        _fds[index] = null;
        return fd;
    }

    public override string ToString() =>
        $"{Header.Command} id {Header.Id} size {Header.Size} flags 0x{(uint)Header.Flags:x}{(IsError ? $" {Interop.Errno.Name(Errno)}" : "")}{(_fds.Count > 0 ? $" +{_fds.Count} fd(s)" : "")}";

    public void Dispose()
    {
        foreach (var fd in _fds)
        {
            fd?.Dispose();
        }

        _fds.Clear();
    }
}
