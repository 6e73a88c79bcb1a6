using PcieEmu.Devices.Audio.Wav;

namespace PcieEmu.Devices.Audio.Routing;

/// <summary>
/// Playback route "wav:PATH": each run (<see cref="Start"/> to <see cref="Stop"/>) is written to its own WAV file in
/// the run's format (<see cref="WavWriter"/>). One file per run, because a WAV file has one format and a stream may
/// restart in another: the first run of this sink writes PATH, the n-th later run PATH with "-n" inserted before
/// the extension ("out.wav", "out-1.wav", "out-2.wav"; "out" → "out-1"). Existing files are overwritten; the
/// numbering restarts with the sink (a new card). The file is readable at any moment: the header is patched
/// every 64 KiB and at <see cref="Stop"/>.
/// <para>
/// A sink cannot fail a running stream (Write has no error path), so I/O errors are not thrown: the first one is
/// kept in <see cref="LastError"/>, the run's file is closed and the rest of the run is dropped (counted in
/// <see cref="DroppedBytes"/>); the next run tries again with its own file.
/// </para>
/// </summary>
internal sealed class WavFileSink : IPlaybackSink
{
    private readonly Lock _gate = new();
    private readonly List<string> _files = [];
    private readonly int _patchIntervalBytes;
    private WavWriter? _writer;
    private int _runs;
    private long _dropped;
    private string? _lastError;
    private bool _disposed;

    public WavFileSink(string path, int patchIntervalBytes = WavWriter.DefaultPatchIntervalBytes)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(patchIntervalBytes, 1);
        Path = path;
        _patchIntervalBytes = patchIntervalBytes;
    }

    public string Description => "wav:" + Path;

    public bool DoesIo => true;

    /// <summary>The configured path (the first run's file).</summary>
    public string Path { get; }

    /// <summary>The files created so far, in run order.</summary>
    public IReadOnlyList<string> Files
    {
        get
        {
            lock (_gate)
            {
                return [.. _files];
            }
        }
    }

    /// <summary>The latest I/O error, or null.</summary>
    public string? LastError
    {
        get
        {
            lock (_gate)
            {
                return _lastError;
            }
        }
    }

    /// <summary>Bytes not written because of an error or the 4 GiB WAV limit.</summary>
    public long DroppedBytes
    {
        get
        {
            lock (_gate)
            {
                return _dropped + (_writer is { } w ? w.DroppedFrames * w.Format.FrameBytes : 0);
            }
        }
    }

    /// <summary>The file of run <paramref name="run"/> (0-based) for <paramref name="path"/>.</summary>
    public static string RunPath(string path, int run)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(run);
        if (run == 0)
        {
            return path;
        }

        string extension = System.IO.Path.GetExtension(path);
        return string.Concat(path.AsSpan(0, path.Length - extension.Length), $"-{run}", extension);
    }

    public void Start(AudioFormat format)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            CloseWriter();
            string file = RunPath(Path, _runs++);
            try
            {
                _writer = new WavWriter(file, format, _patchIntervalBytes);
                _files.Add(file);
            }
            catch (Exception e) when (IsIoError(e) || e is ArgumentException or NotSupportedException or System.Security.SecurityException)
            {
                _lastError = $"{file}: {e.Message}";
            }
        }
    }

    public void Write(ReadOnlySpan<byte> frames)
    {
        lock (_gate)
        {
            if (_writer is null)
            {
                _dropped += frames.Length;
                return;
            }

            try
            {
                _writer.Write(frames);
            }
            catch (Exception e) when (IsIoError(e))
            {
                _lastError = $"{_writer.Path}: {e.Message}";
                _dropped += frames.Length;
                CloseWriter();
            }
        }
    }

    /// <summary>Completes the run's file (header patched, closed).</summary>
    public void Stop()
    {
        lock (_gate)
        {
            CloseWriter();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            CloseWriter();
            _disposed = true;
        }
    }

    private void CloseWriter()
    {
        if (_writer is null)
        {
            return;
        }

        _dropped += _writer.DroppedFrames * _writer.Format.FrameBytes;
        try
        {
            _writer.Dispose();
        }
        catch (Exception e) when (IsIoError(e))
        {
            _lastError = $"{_writer.Path}: {e.Message}";
        }
        finally
        {
            // Gone even when closing failed: the run's file is given up, not retried.
            _writer = null;
        }
    }

    private static bool IsIoError(Exception e) => e is IOException or UnauthorizedAccessException;
}
