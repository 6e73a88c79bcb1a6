using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

/// <summary>What a connection processed, for tests, logs and the demo table. Written by the socket thread.</summary>
public sealed class ConnectionStatistics
{
    private readonly long[] _byCommand = new long[32];
    private long _allocatedAtWarmup = -1;

    public long Messages { get; internal set; }

    public long ErrorReplies { get; internal set; }

    public long RepliesSuppressed { get; internal set; }

    public long ClientRepliesReceived { get; internal set; }

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
