namespace PcieEmu.Devices.Audio.Routing;

/// <summary>One run (RUN 0→1 to the next start) of a stream as a <see cref="SampleRecorder"/> kept it.</summary>
/// <param name="Format">The run's format.</param>
/// <param name="TotalFrames">Frames the stream transferred in the run, kept or not.</param>
/// <param name="Bytes">The frames kept: the first <see cref="KeptFrames"/> of the run (a private copy).</param>
public sealed record RecordedRun(AudioFormat Format, long TotalFrames, byte[] Bytes)
{
    /// <summary>Frames in <see cref="Bytes"/>.</summary>
    public long KeptFrames => Bytes.Length / Format.FrameBytes;

    /// <summary>Frames transferred but not kept (the recorder's cap was reached).</summary>
    public long DroppedFrames => TotalFrames - KeptFrames;

    /// <summary>Every frame of the run was kept: <see cref="Bytes"/> is the whole run.</summary>
    public bool IsComplete => DroppedFrames == 0;
}

/// <summary>
/// The host-side record of the samples a stream transferred (spec §13, last paragraph): a list of runs, each with
/// its format, its frame count and its bytes.
/// <para>
/// Cap: at most <see cref="CapBytes"/> bytes are kept over all runs, the oldest first — once the cap is reached,
/// later frames (and later runs' frames) are counted but not kept (<see cref="DroppedBytes"/>). At most
/// <see cref="MaxRuns"/> runs are listed; later runs are counted in <see cref="DroppedRuns"/> and their frames in
/// <see cref="DroppedBytes"/>.
/// </para>
/// <para>
/// Thread-safe: <see cref="BeginRun"/> and <see cref="Append"/> come from the card's engine, <see cref="Runs"/>
/// from the harness at any time. Storage is a list of chunks that grow geometrically (4 KiB doubling to 1 MiB), so
/// <see cref="Append"/> allocates only when a chunk fills (amortised; nothing per call) and nothing once the cap
/// is reached. <see cref="Runs"/> copies the data outside the lock (the kept bytes never change once appended), so
/// a snapshot of many megabytes does not hold up the engine.
/// </para>
/// </summary>
internal sealed class SampleRecorder
{
    public const long DefaultCapBytes = 64L << 20;
    public const int DefaultMaxRuns = 10_000;

    private const int FirstChunkBytes = 4 << 10;
    private const int MaxChunkBytes = 1 << 20;

    private readonly Lock _gate = new();
    private readonly List<Run> _runs = [];
    private Run? _current;
    private long _keptBytes;
    private long _droppedBytes;
    private long _droppedRuns;

    public SampleRecorder(long capBytes = DefaultCapBytes, int maxRuns = DefaultMaxRuns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRuns, 1);
        CapBytes = capBytes;
        MaxRuns = maxRuns;
    }

    public long CapBytes { get; }

    public int MaxRuns { get; }

    /// <summary>Bytes kept over all runs.</summary>
    public long KeptBytes
    {
        get
        {
            lock (_gate)
            {
                return _keptBytes;
            }
        }
    }

    /// <summary>Bytes appended but not kept (cap reached, or their run was beyond <see cref="MaxRuns"/>).</summary>
    public long DroppedBytes
    {
        get
        {
            lock (_gate)
            {
                return _droppedBytes;
            }
        }
    }

    /// <summary>Runs begun beyond <see cref="MaxRuns"/> (not listed).</summary>
    public long DroppedRuns
    {
        get
        {
            lock (_gate)
            {
                return _droppedRuns;
            }
        }
    }

    /// <summary>A snapshot of every listed run, oldest first (fresh copies of the bytes).</summary>
    public IReadOnlyList<RecordedRun> Runs => Snapshot(lastOnly: false);

    /// <summary>A snapshot of the latest listed run, or null.</summary>
    public RecordedRun? LastRun => Snapshot(lastOnly: true) is { Length: 1 } one ? one[0] : null;

    private RecordedRun[] Snapshot(bool lastOnly)
    {
        (AudioFormat Format, long TotalBytes, long Kept, byte[][] Chunks)[] views;
        lock (_gate)
        {
            int first = lastOnly ? Math.Max(0, _runs.Count - 1) : 0;
            views = new (AudioFormat, long, long, byte[][])[_runs.Count - first];
            for (int i = 0; i < views.Length; i++)
            {
                var r = _runs[first + i];
                views[i] = (r.Format, r.TotalBytes, r.KeptBytes, [.. r.Chunks]);
            }
        }

        // Outside the lock: kept bytes are never rewritten, and the lock's release/acquire published them.
        var result = new RecordedRun[views.Length];
        for (int i = 0; i < views.Length; i++)
        {
            var (format, total, kept, chunks) = views[i];
            var bytes = new byte[kept];
            long at = 0;
            foreach (var chunk in chunks)
            {
                int n = (int)Math.Min(chunk.Length, kept - at);
                chunk.AsSpan(0, n).CopyTo(bytes.AsSpan((int)at));
                at += n;
            }

            result[i] = new RecordedRun(format, total / format.FrameBytes, bytes);
        }

        return result;
    }

    /// <summary>A new run in <paramref name="format"/> starts; later appends belong to it.</summary>
    public void BeginRun(AudioFormat format)
    {
        if (format.FrameBytes <= 0)
        {
            throw new ArgumentException($"no frames in {format}", nameof(format));
        }

        lock (_gate)
        {
            if (_runs.Count >= MaxRuns)
            {
                _droppedRuns++;
                _current = new Run(format, listed: false);
                return;
            }

            _current = new Run(format, listed: true);
            _runs.Add(_current);
        }
    }

    /// <summary>Frames of the current run's format (whole frames; a partial tail is recorded as bytes).</summary>
    /// <exception cref="InvalidOperationException">No run was begun.</exception>
    public void Append(ReadOnlySpan<byte> frames)
    {
        lock (_gate)
        {
            var run = _current ?? throw new InvalidOperationException("SampleRecorder.Append before BeginRun");
            run.TotalBytes += frames.Length;
            long room = run.Listed ? (CapBytes - _keptBytes) / run.Format.FrameBytes * run.Format.FrameBytes : 0;
            int keep = (int)Math.Min(frames.Length, Math.Max(0, room));
            _droppedBytes += frames.Length - keep;
            _keptBytes += keep;
            ReadOnlySpan<byte> rest = frames[..keep];
            while (!rest.IsEmpty)
            {
                if (run.Chunks.Count == 0 || run.LastUsed == run.Chunks[^1].Length)
                {
                    int size = run.Chunks.Count == 0 ? FirstChunkBytes : Math.Min(run.Chunks[^1].Length * 2, MaxChunkBytes);
                    long allowed = CapBytes - (_keptBytes - rest.Length); // what the cap still lets in, rest included
                    run.Chunks.Add(new byte[(int)Math.Clamp(allowed, 1, size)]);
                    run.LastUsed = 0;
                }

                byte[] last = run.Chunks[^1];
                int n = Math.Min(rest.Length, last.Length - run.LastUsed);
                rest[..n].CopyTo(last.AsSpan(run.LastUsed));
                run.LastUsed += n;
                run.KeptBytes += n;
                rest = rest[n..];
            }
        }
    }

    /// <summary>Forgets every run and count (the current run continues as a fresh one).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _runs.Clear();
            _keptBytes = 0;
            _droppedBytes = 0;
            _droppedRuns = 0;
            if (_current is { } c)
            {
                _current = new Run(c.Format, listed: true);
                _runs.Add(_current);
            }
        }
    }

    private sealed class Run(AudioFormat format, bool listed)
    {
        public AudioFormat Format { get; } = format;

        public bool Listed { get; } = listed;

        public List<byte[]> Chunks { get; } = [];

        public int LastUsed { get; set; }

        public long TotalBytes { get; set; }

        public long KeptBytes { get; set; }
    }
}
