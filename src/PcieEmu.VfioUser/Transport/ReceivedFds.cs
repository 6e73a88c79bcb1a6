using Microsoft.Win32.SafeHandles;

namespace PcieEmu.VfioUser.Transport;

/// <summary>
/// The fds that came with one message. Handlers <see cref="Take"/> the ones they keep; whatever is left is
/// closed when the message is done, so no error path can leak an fd.
/// </summary>
public sealed class ReceivedFds
{
    private readonly List<SafeFileHandle?> _fds = [];

    public int Count => _fds.Count;

    /// <summary>The kernel dropped fds because the sender sent more than we accept per message.</summary>
    public bool Truncated { get; internal set; }

    internal void Add(SafeFileHandle fd) => _fds.Add(fd);

    /// <summary>Transfers ownership of fd <paramref name="index"/> to the caller.</summary>
    public SafeFileHandle Take(int index)
    {
        var fd = _fds[index] ?? throw new InvalidOperationException($"fd {index} was already taken");
        _fds[index] = null;
        return fd;
    }

    /// <summary>Closes every fd not taken.</summary>
    public void Release()
    {
        foreach (var fd in _fds)
        {
            fd?.Dispose();
        }

        _fds.Clear();
        Truncated = false;
    }
}
