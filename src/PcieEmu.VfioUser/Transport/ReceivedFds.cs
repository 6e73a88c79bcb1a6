using Microsoft.Win32.SafeHandles;

namespace PcieEmu.VfioUser.Transport;

/// <summary>
/// The fds that came with one message. Handlers <see cref="Take"/> the ones they keep; whatever is left is
/// closed when the message is done, so no error path can leak an fd. One instance is reused for every message of a
/// stream; not thread-safe.
/// </summary>
public sealed class ReceivedFds
{
    private readonly List<SafeFileHandle?> _fds = [];

    /// <summary>Fds that came with the message, taken ones included (so indices stay stable).</summary>
    public int Count => _fds.Count;

    /// <summary>The kernel dropped fds because the sender sent more than we accept per message.</summary>
    public bool Truncated { get; internal set; }

    internal void Add(SafeFileHandle fd) => _fds.Add(fd);

    /// <summary>
    /// Transfers ownership of fd <paramref name="index"/> (0-based, in the order the sender attached them) to the
    /// caller. Throws <see cref="ArgumentOutOfRangeException"/> for an index outside 0..Count-1 and
    /// <see cref="InvalidOperationException"/> for an fd already taken.
    /// </summary>
    public SafeFileHandle Take(int index)
    {
        var fd = _fds[index] ?? throw new InvalidOperationException($"fd {index} was already taken");
        _fds[index] = null;
        return fd;
    }

    /// <summary>Closes every fd not taken and empties the list, ready for the next message.</summary>
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
