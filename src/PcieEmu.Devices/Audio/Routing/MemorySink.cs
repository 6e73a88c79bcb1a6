namespace PcieEmu.Devices.Audio.Routing;

/// <summary>
/// Playback route "memory": the samples are kept in the host for the test harness, one <see cref="RecordedRun"/>
/// per <see cref="Start"/>, up to <see cref="CapBytes"/> over all runs (the oldest kept; what does not fit is
/// counted in <see cref="DroppedBytes"/>). Thread-safe: <see cref="Runs"/> is a snapshot that may be taken while the
/// stream runs. <see cref="Write"/> allocates only as the kept data grows (chunks, see <see cref="SampleRecorder"/>)
/// and nothing once the cap is reached.
/// </summary>
internal sealed class MemorySink : IPlaybackSink
{
    public const long DefaultCapBytes = 256L << 20;

    private readonly SampleRecorder _recorder;

    public MemorySink(long capBytes = DefaultCapBytes) => _recorder = new SampleRecorder(capBytes);

    public string Description => "memory";

    public long CapBytes => _recorder.CapBytes;

    /// <summary>Every run so far, oldest first (fresh copies).</summary>
    public IReadOnlyList<RecordedRun> Runs => _recorder.Runs;

    /// <summary>The latest run, or null before the first <see cref="Start"/>.</summary>
    public RecordedRun? LastRun => _recorder.LastRun;

    /// <summary>Bytes written but not kept.</summary>
    public long DroppedBytes => _recorder.DroppedBytes;

    /// <summary>Bytes kept over all runs.</summary>
    public long KeptBytes => _recorder.KeptBytes;

    public void Start(AudioFormat format) => _recorder.BeginRun(format);

    /// <exception cref="InvalidOperationException">Before the first <see cref="Start"/>.</exception>
    public void Write(ReadOnlySpan<byte> frames) => _recorder.Append(frames);

    public void Stop()
    {
    }

    /// <summary>Forgets what was kept.</summary>
    public void Clear() => _recorder.Clear();

    public void Dispose()
    {
    }
}
