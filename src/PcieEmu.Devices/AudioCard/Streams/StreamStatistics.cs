namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>
/// What a stream did since the card was created (resets do not clear it), for tests, benchmarks and the demo table.
/// The card's scheduler updates it; read it from any thread (a value may be one step behind).
/// </summary>
public sealed class StreamStatistics
{
    private const int LatenessSamples = 1 << 16;
    private readonly long[] _lateness = new long[LatenessSamples];
    private long _latenessCount;

    /// <summary>Runs started (RUN 0→1 that passed the checks).</summary>
    public long Runs { get; internal set; }

    /// <summary>Frames the stream advanced over, all runs (including frames lost to an xrun).</summary>
    public long FramesMoved { get; internal set; }

    /// <summary>Descriptors with IOC completed, all runs (each is a period interrupt cause, spec §10).</summary>
    public long Periods { get; internal set; }

    /// <summary>Overruns and underruns: times the stream fell more than a buffer behind (spec §11.4).</summary>
    public long Xruns { get; internal set; }

    /// <summary>Frames skipped by xruns, all runs (counted in <see cref="FramesMoved"/> too).</summary>
    public long LostFrames { get; internal set; }

    /// <summary>Interrupt lateness samples (ns after the boundary's due time), most recent 65536.</summary>
    public IReadOnlyList<long> IocLateness => IocLatenessSince(0);

    /// <summary>How many lateness samples were ever noted (a mark for <see cref="IocLatenessSince"/>).</summary>
    public long IocSamples
    {
        get
        {
            lock (_lateness)
            {
                return _latenessCount;
            }
        }
    }

    /// <summary>The samples noted after the first <paramref name="mark"/> (of those still kept, the most recent 65536), oldest first.</summary>
    public long[] IocLatenessSince(long mark)
    {
        lock (_lateness)
        {
            long from = Math.Max(Math.Max(0, mark), _latenessCount - LatenessSamples);
            var result = new long[Math.Max(0, _latenessCount - from)];
            for (long i = from; i < _latenessCount; i++)
            {
                result[i - from] = _lateness[i % LatenessSamples];
            }

            return result;
        }
    }

    internal void NoteIocLateness(long nanoseconds)
    {
        lock (_lateness)
        {
            _lateness[_latenessCount % LatenessSamples] = nanoseconds;
            _latenessCount++;
        }
    }
}
