using PcieEmu.Devices.Audio.Dsp;
using PcieEmu.Devices.Audio.Wav;

namespace PcieEmu.Devices.Audio.Routing;

/// <summary>
/// Capture route "wav:PATH": the file's frames, looped — frame n of a run is frame n mod N of the file (N frames),
/// so the result depends only on n, not on how reads are chunked.
/// <para>
/// At <see cref="Start"/> the file is read (again only if its length or write time changed since the last run),
/// checked and converted once to the stream's format: sample format and channel count with Dsp's SampleConversion
/// (spec §13: channel c to channel c, missing channels zero); the rate must match the stream's (no resampling), or
/// <see cref="Start"/> returns the error (the card raises ERR/FORMAT). A missing, malformed, unsupported or empty
/// file, or one whose converted frames would exceed <see cref="MaxBytes"/>, is also a Start error.
/// <see cref="Read"/> only copies from memory: it does not touch the disk and does not allocate.
/// </para>
/// </summary>
internal sealed class WavFileSource : ICaptureSource
{
    public const long DefaultMaxBytes = 256L << 20;

    private byte[] _raw = [];
    private AudioFormat _rawFormat;
    private (long Length, DateTime WriteTime)? _stamp;
    private byte[] _frames = [];
    private long _frameCount;
    private AudioFormat? _format;

    public WavFileSource(string path, long maxBytes = DefaultMaxBytes)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        Path = path;
        MaxBytes = maxBytes;
    }

    public string Description => "wav:" + Path;

    public bool DoesIo => true;

    public string Path { get; }

    /// <summary>Most bytes the file's frames may take (as read, and converted to the stream's format).</summary>
    public long MaxBytes { get; }

    /// <summary>The file's format as last loaded, or null.</summary>
    public AudioFormat? FileFormat => _stamp is null ? null : _rawFormat;

    /// <summary>Frames in the file (one loop), 0 before a successful <see cref="Start"/>.</summary>
    public long LoopFrames => _frameCount;

    public string? Start(AudioFormat format)
    {
        _format = null;
        try
        {
            var info = new FileInfo(Path);
            if (!info.Exists)
            {
                return $"{Path}: no such file";
            }

            var stamp = (info.Length, info.LastWriteTimeUtc);
            if (_stamp != stamp)
            {
                _stamp = null;
                _raw = WavReader.ReadAllFrames(Path, out _rawFormat, MaxBytes);
                _stamp = stamp;
            }
        }
        catch (Exception e) when (e is WavFormatException or IOException or UnauthorizedAccessException)
        {
            return $"{Path}: {e.Message}";
        }

        if (_rawFormat.Rate != format.Rate)
        {
            return $"{Path}: the file is {_rawFormat.Rate} Hz, the stream {format.Rate} Hz (no resampling, spec §13)";
        }

        long frames = _raw.Length / _rawFormat.FrameBytes;
        if (frames == 0)
        {
            return $"{Path}: the file has no frames to loop";
        }

        long bytes = frames * format.FrameBytes;
        if (bytes > Math.Min(MaxBytes, Array.MaxLength))
        {
            return $"{Path}: {frames} frames of {format} need {bytes} bytes, more than the {MaxBytes} allowed";
        }

        if (_frames.Length != bytes)
        {
            _frames = new byte[bytes];
        }

        SampleConversion.Convert(_raw, _rawFormat, _frames, format); // a plain copy when format and channels match

        _frameCount = frames;
        _format = format;
        return null;
    }

    public void Read(Span<byte> frames, long firstFrame)
    {
        var format = _format ?? throw new InvalidOperationException("WavFileSource.Read before a successful Start");
        int frameBytes = format.FrameBytes;
        if (frames.Length % frameBytes != 0)
        {
            throw new ArgumentException($"{frames.Length} bytes are not whole {frameBytes}-byte frames of {format}", nameof(frames));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(firstFrame);
        long at = firstFrame % _frameCount * frameBytes;
        while (!frames.IsEmpty)
        {
            int n = (int)Math.Min(frames.Length, _frames.Length - at);
            _frames.AsSpan((int)at, n).CopyTo(frames);
            frames = frames[n..];
            at = 0;
        }
    }

    public void Stop() => _format = null;

    public void Dispose()
    {
        _format = null;
        _raw = [];
        _frames = [];
        _stamp = null;
    }
}
