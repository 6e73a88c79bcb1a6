using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PcieEmu.VfioUser.Transport;

/// <summary>
/// A byte stream with fd passing, as vfio-user needs it. Receive hands over fds that arrived with the bytes,
/// already owned; Send attaches fds to the first byte it sends. Both block; Shutdown unblocks a receiver.
/// </summary>
public interface IMessageTransport : IDisposable
{
    string Description { get; }

    /// <summary>Bytes received (0 = end of stream) or -errno. Fds are appended to <paramref name="fds"/>.</summary>
    int Receive(Span<byte> buffer, List<SafeFileHandle> fds, out bool fdsTruncated);

    /// <summary>Sends head then tail as one message with <paramref name="fds"/>; 0 or -errno.</summary>
    int Send(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, ReadOnlySpan<SafeHandle> fds);

    void Shutdown();

    /// <summary>
    /// Lets the calling thread pass a message to <see cref="SendBeforeReceive"/>, to go out with its next
    /// <see cref="Receive"/> in one system call. False, with the reason, when this transport cannot batch.
    /// </summary>
    bool TryBatchSendWithReceive(out string reason)
    {
        reason = "not supported by this transport";
        return false;
    }

    /// <summary>
    /// Sends <paramref name="message"/> (no fds) no later than the calling thread's next <see cref="Receive"/>, which
    /// it may join into one system call; the caller must call Receive next. 0 or -errno (a failure may instead be
    /// reported by that Receive).
    /// </summary>
    int SendBeforeReceive(ReadOnlySpan<byte> message) => Send(message, default, default);
}
