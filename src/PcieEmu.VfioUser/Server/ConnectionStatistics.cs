using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// What a connection processed, for tests, logs and the demo table. Written by the session thread only; readable from
/// any thread while the session runs (a count may lag by the message in progress) and after it ended.
/// </summary>
public sealed class ConnectionStatistics
{
    private readonly long[] _byCommand = new long[32];
    private long _allocatedAtWarmup = -1;

    /// <summary>Requests received from the client and dispatched (replies to the server's own requests not included).</summary>
    public long Messages { get; internal set; }

    /// <summary>Error replies sent: requests answered with an errno.</summary>
    public long ErrorReplies { get; internal set; }

    /// <summary>Requests that failed but asked for no reply (NO_REPLY), so the error was only logged.</summary>
    public long RepliesSuppressed { get; internal set; }

    /// <summary>Replies the client sent to server→client requests (DMA_READ/DMA_WRITE).</summary>
    public long ClientRepliesReceived { get; internal set; }

    /// <summary>Requests received with <paramref name="command"/>; 0 for a command never seen or outside the known range.</summary>
    public long Commands(VfioUserCommand command) => (int)command < _byCommand.Length ? Volatile.Read(ref _byCommand[(int)command]) : 0;

    /// <summary>
    /// One writer (the socket thread), so a plain increment published with a volatile write is enough for readers on
    /// other threads; a locked read-modify-write per message would buy nothing but its cost on the hot path.
    /// </summary>
    internal void Count(VfioUserCommand command)
    {
        Messages++;
        if ((uint)command < (uint)_byCommand.Length)
        {
            ref long slot = ref _byCommand[(int)command];
            Volatile.Write(ref slot, slot + 1);
        }
    }

    /// <summary>Bytes the socket thread allocated after the first <see cref="WarmupMessages"/> messages (TrackAllocations).</summary>
    public long AllocatedSinceWarmup { get; private set; } = -1;

    /// <summary>Messages after which allocation tracking starts, so one-time set-up is not counted.</summary>
    public const int WarmupMessages = 256;

    internal void SampleAllocations()
    {
        long now = GC.GetAllocatedBytesForCurrentThread();
        if (Messages == WarmupMessages)
        {
            _allocatedAtWarmup = now;
        }
        else if (_allocatedAtWarmup >= 0)
        {
            AllocatedSinceWarmup = now - _allocatedAtWarmup;
        }
    }
}
