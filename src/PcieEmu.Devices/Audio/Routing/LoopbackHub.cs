using PcieEmu.Devices.Audio.Dsp;

namespace PcieEmu.Devices.Audio.Routing;

/// <summary>
/// The loopback bus of one card (spec §13): what a playback stream routed to "loopback" hands to its sink (after
/// its volume) goes to every capture stream whose source is "loopback:&lt;that stream&gt;".
/// <para>
/// Each capture reader has its own FIFO in its own format, filled by the playback side (converted on the way in
/// with Dsp's SampleConversion when the formats or channel counts differ) from the reader's
/// <see cref="LoopbackSource.Start"/> on: a reader sees only what is produced after it started. A FIFO holds
/// <see cref="BufferDuration"/> of audio at the reader's rate (default 1 s), at most <see cref="MaxBufferBytes"/>.
/// A read finding too few frames gets the ones there, then zeros (an underflow); a write finding a FIFO full drops
/// that reader's oldest frames (an overflow). Both are counted per reader (<see cref="LoopbackSource"/>).
/// </para>
/// <para>
/// Rates must match (no resampling): a capture Start while the playback side runs at another rate is refused
/// (the card raises ERR/FORMAT); a capture Start while the playback side is stopped is accepted and reads zeros
/// until data comes. If the playback side later starts at a rate different from a running reader's, that reader
/// gets none of it (counted in <see cref="LoopbackSource.RateMismatchFrames"/>) and reads zeros.
/// </para>
/// <para>
/// Thread-safe (one lock per playback stream; no thread is assumed). Write and Read do not allocate; Start does
/// (the FIFO), once per run at most.
/// </para>
/// </summary>
internal sealed class LoopbackHub
{
    public static readonly TimeSpan DefaultBufferDuration = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How much a reader buffers before it starts consuming (spec §13). Playback and capture run on independent
    /// start times and are pumped in ticks, so the capture side may ask for a frame a moment before the playback
    /// side produced it; this margin keeps the samples contiguous.
    /// </summary>
    public static readonly TimeSpan DefaultJitterBuffer = TimeSpan.FromMilliseconds(10);

    public const long DefaultMaxBufferBytes = 32L << 20;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, LoopbackBus> _buses = new(StringComparer.Ordinal);

    public LoopbackHub(TimeSpan? bufferDuration = null, long maxBufferBytes = DefaultMaxBufferBytes, TimeSpan? jitterBuffer = null)
    {
        BufferDuration = bufferDuration ?? DefaultBufferDuration;
        JitterBuffer = jitterBuffer ?? DefaultJitterBuffer;
        ArgumentOutOfRangeException.ThrowIfLessThan(JitterBuffer, TimeSpan.Zero, nameof(jitterBuffer));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(BufferDuration, TimeSpan.Zero, nameof(bufferDuration));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBufferBytes, 1);
        MaxBufferBytes = maxBufferBytes;
    }

    public TimeSpan BufferDuration { get; }

    /// <summary>What a reader holds before it starts consuming (<see cref="DefaultJitterBuffer"/>).</summary>
    public TimeSpan JitterBuffer { get; }

    public long MaxBufferBytes { get; }

    /// <summary>The sink of playback stream <paramref name="playbackStream"/> (one live sink per stream).</summary>
    /// <exception cref="InvalidOperationException">The stream already has a live (undisposed) loopback sink.</exception>
    public LoopbackSink CreateSink(string playbackStream)
    {
        ArgumentException.ThrowIfNullOrEmpty(playbackStream);
        var bus = Bus(playbackStream);
        lock (bus.Gate)
        {
            if (bus.Sink is not null)
            {
                throw new InvalidOperationException($"playback stream {playbackStream} already has a loopback sink");
            }

            bus.Sink = new LoopbackSink(bus);
            return bus.Sink;
        }
    }

    /// <summary>A capture source reading what playback stream <paramref name="playbackStream"/> hands to its sink.</summary>
    public LoopbackSource CreateSource(string playbackStream)
    {
        ArgumentException.ThrowIfNullOrEmpty(playbackStream);
        return new LoopbackSource(Bus(playbackStream), this);
    }

    private LoopbackBus Bus(string name)
    {
        lock (_gate)
        {
            if (!_buses.TryGetValue(name, out var bus))
            {
                bus = new LoopbackBus(name);
                _buses.Add(name, bus);
            }

            return bus;
        }
    }
}

/// <summary>Shared state of one playback stream's loopback: its format while running and its readers.</summary>
internal sealed class LoopbackBus(string name)
{
    public string Name { get; } = name;

    public Lock Gate { get; } = new();

    public LoopbackSink? Sink { get; set; }

    /// <summary>The playback side's format while it runs, else null.</summary>
    public AudioFormat? PlaybackFormat { get; set; }

    /// <summary>Started readers (copy-on-write, iterated without allocating).</summary>
    public LoopbackSource[] Readers { get; set; } = [];
}

/// <summary>Playback route "loopback": the playback side of a <see cref="LoopbackHub"/> bus.</summary>
internal sealed class LoopbackSink : IPlaybackSink
{
    private readonly LoopbackBus _bus;
    private bool _disposed;

    internal LoopbackSink(LoopbackBus bus) => _bus = bus;

    public string Description => "loopback";

    public string PlaybackStream => _bus.Name;

    /// <summary>The running format, or null while stopped.</summary>
    public AudioFormat? Format
    {
        get
        {
            lock (_bus.Gate)
            {
                return _disposed ? null : _bus.PlaybackFormat;
            }
        }
    }

    public void Start(AudioFormat format)
    {
        lock (_bus.Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _bus.PlaybackFormat = format;
        }
    }

    public void Write(ReadOnlySpan<byte> frames)
    {
        lock (_bus.Gate)
        {
            if (_disposed || _bus.PlaybackFormat is not { } format)
            {
                return;
            }

            if (frames.Length % format.FrameBytes != 0)
            {
                throw new ArgumentException($"{frames.Length} bytes are not whole {format.FrameBytes}-byte frames of {format}", nameof(frames));
            }

            foreach (var reader in _bus.Readers)
            {
                reader.Push(frames, format);
            }
        }
    }

    public void Stop()
    {
        lock (_bus.Gate)
        {
            if (!_disposed)
            {
                _bus.PlaybackFormat = null;
            }
        }
    }

    /// <summary>Stops and frees the stream's loopback for a new sink.</summary>
    public void Dispose()
    {
        lock (_bus.Gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _bus.PlaybackFormat = null;
            if (ReferenceEquals(_bus.Sink, this))
            {
                _bus.Sink = null;
            }
        }
    }
}

/// <summary>Capture route "loopback:&lt;stream&gt;": one reader of a <see cref="LoopbackHub"/> bus, with its own FIFO.</summary>
internal sealed class LoopbackSource : ICaptureSource
{
    private const int ConvertChunkFrames = 1024;

    private readonly LoopbackBus _bus;
    private readonly LoopbackHub _hub;
    private byte[] _ring = [];
    private byte[] _scratch = [];
    private int _capacity; // bytes, whole frames
    private int _head;
    private int _count;
    private AudioFormat? _format;
    private long _underflowEvents;
    private long _underflowFrames;
    private long _overflowEvents;
    private long _overflowFrames;
    private long _rateMismatchFrames;

    internal LoopbackSource(LoopbackBus bus, LoopbackHub hub)
    {
        _bus = bus;
        _hub = hub;
    }

    private int _primeBytes;
    private bool _priming;

    public string Description => "loopback:" + _bus.Name;

    public string PlaybackStream => _bus.Name;

    /// <summary>Reads that found fewer frames than asked (zeros filled the rest).</summary>
    public long UnderflowEvents => Locked(ref _underflowEvents);

    /// <summary>Zero frames handed out for lack of data.</summary>
    public long UnderflowFrames => Locked(ref _underflowFrames);

    /// <summary>Writes that found this reader's FIFO full.</summary>
    public long OverflowEvents => Locked(ref _overflowEvents);

    /// <summary>Frames dropped (oldest first) because this reader fell behind by more than its FIFO.</summary>
    public long OverflowFrames => Locked(ref _overflowFrames);

    /// <summary>Frames the playback side produced at another rate than this reader's, not delivered.</summary>
    public long RateMismatchFrames => Locked(ref _rateMismatchFrames);

    /// <summary>Frames waiting to be read.</summary>
    public int BufferedFrames
    {
        get
        {
            lock (_bus.Gate)
            {
                return _format is { } f ? _count / f.FrameBytes : 0;
            }
        }
    }

    /// <summary>FIFO size in frames (after a Start).</summary>
    public int CapacityFrames
    {
        get
        {
            lock (_bus.Gate)
            {
                return _format is { } f ? _capacity / f.FrameBytes : 0;
            }
        }
    }

    public string? Start(AudioFormat format)
    {
        if (format.FrameBytes <= 0 || format.Rate <= 0)
        {
            return $"cannot loop back {format}";
        }

        lock (_bus.Gate)
        {
            if (_bus.PlaybackFormat is { } playback && playback.Rate != format.Rate)
            {
                return $"playback stream {_bus.Name} runs at {playback.Rate} Hz, this capture stream asks {format.Rate} Hz (no resampling, spec §13)";
            }

            long frames = Math.Max(1, (long)Math.Ceiling(_hub.BufferDuration.TotalSeconds * format.Rate));
            frames = Math.Clamp(Math.Min(frames, _hub.MaxBufferBytes / format.FrameBytes), 1, Array.MaxLength / format.FrameBytes);
            int capacity = (int)(frames * format.FrameBytes);
            if (_ring.Length != capacity)
            {
                _ring = new byte[capacity];
            }

            int scratch = (int)Math.Min(frames, ConvertChunkFrames) * format.FrameBytes;
            if (_scratch.Length < scratch)
            {
                _scratch = new byte[scratch];
            }

            _capacity = capacity;
            _head = 0;
            _count = 0;
            _format = format;
            _primeBytes = (int)Math.Min(capacity, (long)Math.Ceiling(_hub.JitterBuffer.TotalSeconds * format.Rate) * format.FrameBytes);
            _priming = true;
            if (Array.IndexOf(_bus.Readers, this) < 0)
            {
                _bus.Readers = [.. _bus.Readers, this];
            }

            return null;
        }
    }

    /// <summary>
    /// Fills <paramref name="frames"/> with the oldest buffered frames, then zeros (counted as an underflow).
    /// <paramref name="firstFrame"/> is not used: a FIFO has no random access.
    /// </summary>
    public void Read(Span<byte> frames, long firstFrame)
    {
        lock (_bus.Gate)
        {
            var format = _format ?? throw new InvalidOperationException("LoopbackSource.Read before a successful Start");
            if (frames.Length % format.FrameBytes != 0)
            {
                throw new ArgumentException($"{frames.Length} bytes are not whole {format.FrameBytes}-byte frames of {format}", nameof(frames));
            }

            if (_priming && _count < _primeBytes)
            {
                frames.Clear(); // still filling the jitter buffer
                return;
            }

            _priming = false;
            int n = Math.Min(_count, frames.Length);
            int first = Math.Min(n, _capacity - _head);
            _ring.AsSpan(_head, first).CopyTo(frames);
            _ring.AsSpan(0, n - first).CopyTo(frames[first..]);
            _head = (_head + n) % _capacity;
            _count -= n;
            if (n < frames.Length)
            {
                _priming = true; // ran empty: fill the jitter buffer again before consuming
                frames[n..].Clear();
                _underflowEvents++;
                _underflowFrames += (frames.Length - n) / format.FrameBytes;
            }
        }
    }

    public void Stop()
    {
        lock (_bus.Gate)
        {
            Detach();
        }
    }

    public void Dispose() => Stop();

    /// <summary>Called under the bus lock by the playback side with whole frames of <paramref name="from"/>.</summary>
    internal void Push(ReadOnlySpan<byte> frames, AudioFormat from)
    {
        var to = _format!.Value;
        if (from.Rate != to.Rate)
        {
            _rateMismatchFrames += frames.Length / from.FrameBytes;
            return;
        }

        if (from.Format == to.Format && from.Channels == to.Channels)
        {
            Enqueue(frames);
            return;
        }

        int chunk = _scratch.Length / to.FrameBytes * from.FrameBytes;
        while (!frames.IsEmpty)
        {
            int n = Math.Min(frames.Length, chunk);
            int outBytes = n / from.FrameBytes * to.FrameBytes;
            SampleConversion.Convert(frames[..n], from, _scratch.AsSpan(0, outBytes), to);
            Enqueue(_scratch.AsSpan(0, outBytes));
            frames = frames[n..];
        }
    }

    private void Enqueue(ReadOnlySpan<byte> data)
    {
        int frameBytes = _format!.Value.FrameBytes;
        int excess = _count + data.Length - _capacity;
        if (excess > 0)
        {
            _overflowEvents++;
            _overflowFrames += excess / frameBytes;
            int fromRing = Math.Min(excess, _count);
            _head = (_head + fromRing) % _capacity;
            _count -= fromRing;
            data = data[(excess - fromRing)..]; // more than a whole FIFO at once: its oldest part goes too
        }

        int tail = (_head + _count) % _capacity;
        int first = Math.Min(data.Length, _capacity - tail);
        data[..first].CopyTo(_ring.AsSpan(tail));
        data[first..].CopyTo(_ring);
        _count += data.Length;
    }

    private void Detach()
    {
        _format = null;
        _count = 0;
        _head = 0;
        if (Array.IndexOf(_bus.Readers, this) >= 0)
        {
            _bus.Readers = [.. _bus.Readers.Where(r => r != this)];
        }
    }

    private long Locked(ref long field)
    {
        lock (_bus.Gate)
        {
            return field;
        }
    }
}
