using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace PcieEmu.Devices.Audio.Wav;

/// <summary>
/// Streams interleaved frames of one <see cref="AudioFormat"/> to a new WAV file.
/// <para>
/// Encoding: S16_LE and S32_LE as WAVE_FORMAT_PCM (16/32 bits), FLOAT_LE as WAVE_FORMAT_IEEE_FLOAT (32 bits, with a
/// fact chunk), S24_LE as WAVE_FORMAT_EXTENSIBLE with a 32-bit container and wValidBitsPerSample = 24 (the ALSA
/// S24_LE layout); any format with more than two channels is written as WAVE_FORMAT_EXTENSIBLE. WAVE_FORMAT_EXTENSIBLE
/// puts the valid bits of a sample at the top of its container (low bits zero), so an S24_LE sample x (bits 23:0
/// of the card's container; bits 31:24 are ignored, spec §9.2) is stored as the 32-bit value x « 8.
/// <see cref="WavReader"/> undoes that, giving S24_LE containers sign-extended.
/// </para>
/// <para>
/// Buffering and crash safety: frames are collected in a buffer of at most <c>patchIntervalBytes</c> (whole frames,
/// default 64 KiB); each time it fills, the block is written to the file and the RIFF, data (and fact) sizes in
/// the header are patched to describe exactly what is in the file. A process killed at any point therefore leaves
/// a valid WAV file holding every frame of each completed block (at most one block of audio is lost; the sizes may
/// lag the data by one block if the kill falls between the two writes, never exceed it). <see cref="Flush"/>
/// writes the partial block and patches the header; <see cref="Dispose"/> flushes and closes.
/// </para>
/// <para>
/// Size limit: RIFF sizes are 32-bit, so at most 4 GiB − header of frame data fit; frames beyond that are dropped
/// and counted in <see cref="DroppedFrames"/>. Not thread-safe; <see cref="Write"/> does not allocate.
/// </para>
/// </summary>
public sealed class WavWriter : IDisposable
{
    /// <summary>Default buffer: 64 KiB of frames between writes (and header patches).</summary>
    public const int DefaultPatchIntervalBytes = 64 * 1024;

    private readonly SafeFileHandle _file;
    private readonly WavLayout.Header _header;
    private readonly byte[] _buffer;
    private readonly byte[] _patch = new byte[4];
    private readonly long _maxDataBytes;
    private int _buffered;
    private long _fileDataBytes;
    private bool _disposed;

    /// <summary>Creates (or truncates) <paramref name="path"/> and writes the header of an empty file.</summary>
    /// <param name="path">The file to write.</param>
    /// <param name="format">The frames' format; fixed for the file.</param>
    /// <param name="patchIntervalBytes">Most bytes buffered before they are written and the header patched.</param>
    /// <exception cref="ArgumentException">An invalid format or interval.</exception>
    /// <exception cref="IOException">The file cannot be created.</exception>
    public WavWriter(string path, AudioFormat format, int patchIntervalBytes = DefaultPatchIntervalBytes)
        : this(path, format, patchIntervalBytes, maxDataBytes: long.MaxValue)
    {
    }

    /// <summary>For tests: <paramref name="maxDataBytes"/> lowers the 4 GiB limit.</summary>
    internal WavWriter(string path, AudioFormat format, int patchIntervalBytes, long maxDataBytes)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!Enum.IsDefined(format.Format))
        {
            throw new ArgumentException($"undefined sample format {(int)format.Format}", nameof(format));
        }

        if (format.Rate <= 0 || format.Channels <= 0 || format.FrameBytes > ushort.MaxValue)
        {
            throw new ArgumentException($"cannot write a WAV file of {format}", nameof(format));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(patchIntervalBytes, 1);
        Path = path;
        Format = format;
        _header = WavLayout.BuildHeader(format);
        int frameBytes = format.FrameBytes;
        _buffer = new byte[Math.Max(1, patchIntervalBytes / frameBytes) * frameBytes];
        long riffLimit = uint.MaxValue - (_header.Bytes.Length - 8L);
        _maxDataBytes = Math.Min(riffLimit, maxDataBytes) / frameBytes * frameBytes;
        _file = File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        try
        {
            RandomAccess.Write(_file, _header.Bytes, 0);
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    /// <summary>The file being written, as given.</summary>
    public string Path { get; }

    /// <summary>The frames' format (<see cref="Write"/> takes whole frames of it).</summary>
    public AudioFormat Format { get; }

    /// <summary>Frames accepted (in the file or in the buffer), dropped ones not included.</summary>
    public long FramesWritten => (_fileDataBytes + _buffered) / Format.FrameBytes;

    /// <summary>Frame bytes already in the file (and described by its header).</summary>
    public long DataBytesInFile => _fileDataBytes;

    /// <summary>Frames dropped because the file reached the 4 GiB RIFF limit.</summary>
    public long DroppedFrames { get; private set; }

    /// <summary>The header's length: frame data starts at this offset.</summary>
    public int HeaderLength => _header.Bytes.Length;

    /// <summary>Appends whole frames of <see cref="Format"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="frames"/> is not whole frames.</exception>
    /// <exception cref="IOException">Writing failed (disk full...).</exception>
    public void Write(ReadOnlySpan<byte> frames)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int frameBytes = Format.FrameBytes;
        if (frames.Length % frameBytes != 0)
        {
            throw new ArgumentException($"{frames.Length} bytes are not whole {frameBytes}-byte frames of {Format}", nameof(frames));
        }

        long room = _maxDataBytes - _fileDataBytes - _buffered;
        if (frames.Length > room)
        {
            DroppedFrames += (frames.Length - room) / frameBytes;
            frames = frames[..(int)room];
        }

        while (!frames.IsEmpty)
        {
            int n = Math.Min(frames.Length, _buffer.Length - _buffered);
            Span<byte> to = _buffer.AsSpan(_buffered, n);
            if (Format.Format == SampleFormat.S24Le)
            {
                for (int i = 0; i < n; i += 4)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(to[i..], BinaryPrimitives.ReadInt32LittleEndian(frames[i..]) << 8);
                }
            }
            else
            {
                frames[..n].CopyTo(to);
            }

            _buffered += n;
            frames = frames[n..];
            if (_buffered == _buffer.Length)
            {
                WriteBlock();
            }
        }
    }

    /// <summary>
    /// Writes the buffered frames and patches the header, so that the file as any reader sees it is complete and
    /// valid. With <paramref name="toDisk"/> it is also forced to stable storage (fsync); without, it survives
    /// the process but not necessarily a power loss.
    /// </summary>
    public void Flush(bool toDisk = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        WriteBlock();
        PatchHeader();
        if (toDisk)
        {
            RandomAccess.FlushToDisk(_file);
        }
    }

    /// <summary>Flushes (best effort) and closes the file. Idempotent.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            Flush();
        }
        finally
        {
            _disposed = true;
            _file.Dispose();
        }
    }

    private void WriteBlock()
    {
        if (_buffered == 0)
        {
            return;
        }

        RandomAccess.Write(_file, _buffer.AsSpan(0, _buffered), _header.Bytes.Length + _fileDataBytes);
        _fileDataBytes += _buffered;
        _buffered = 0;
        PatchHeader();
    }

    private void PatchHeader()
    {
        WriteUInt32At(4, (uint)(_header.Bytes.Length - 8 + _fileDataBytes));
        WriteUInt32At(_header.DataSizeOffset, (uint)_fileDataBytes);
        if (_header.FactSampleLengthOffset >= 0)
        {
            WriteUInt32At(_header.FactSampleLengthOffset, (uint)(_fileDataBytes / Format.FrameBytes));
        }
    }

    private void WriteUInt32At(long offset, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_patch, value);
        RandomAccess.Write(_file, _patch, offset);
    }
}
