using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PcieEmu.VfioUser.Transport;

/// <summary>
/// A byte stream with fd passing, as vfio-user needs it. Receive hands over fds that arrived with the bytes,
/// already owned; Send attaches fds to the first byte it sends. Both block; Shutdown unblocks a receiver.
/// One thread receives; senders on several threads must serialise their calls (a message is one Send).
/// Failures are returned as -errno, not thrown. Dispose closes the stream and every fd the transport still holds.
/// </summary>
public interface IMessageTransport : IDisposable
{
    /// <summary>Names the endpoint in logs and errors ("unix:/tmp/card.sock#1", "in-memory(client)").</summary>
    string Description { get; }

    /// <summary>
    /// Receives at least one byte into <paramref name="buffer"/>, blocking until some arrive. Returns the count
    /// (0 = end of stream) or -errno. Fds that came with these bytes are appended to <paramref name="fds"/>, owned by
    /// the caller from then on; <paramref name="fdsTruncated"/> says the sender sent more than this transport takes per
    /// message and the kernel dropped the rest.
    /// </summary>
    int Receive(Span<byte> buffer, List<SafeFileHandle> fds, out bool fdsTruncated);

    /// <summary>
    /// Sends <paramref name="head"/> then <paramref name="tail"/> as one message, with <paramref name="fds"/> attached
    /// to its first byte; returns once every byte is out, 0 or -errno. The fds stay the caller's (the peer gets copies).
    /// </summary>
    int Send(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, ReadOnlySpan<SafeHandle> fds);

    /// <summary>
    /// Ends the stream in both directions: a blocked <see cref="Receive"/> returns 0 and the peer sees the end. Any
    /// thread may call it, any number of times; <see cref="IDisposable.Dispose"/> still releases the transport.
    /// </summary>
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
