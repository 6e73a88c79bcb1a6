using System.Buffers.Binary;

namespace PcieEmu.Devices.Audio.Wav;

/// <summary>How the samples are stored in a WAV file's data chunk.</summary>
internal enum WavSampleEncoding
{
    /// <summary>16-bit PCM.</summary>
    Pcm16,

    /// <summary>24-bit PCM packed in 3 bytes (expanded to S24_LE containers on read).</summary>
    Pcm24Packed,

    /// <summary>At most 24 valid bits at the top of a 32-bit container (read as S24_LE).</summary>
    Pcm24In32,

    /// <summary>32-bit PCM.</summary>
    Pcm32,

    /// <summary>IEEE 754 binary32.</summary>
    Float32,
}

/// <summary>
/// Reads the frames of a RIFF/WAVE file as one of the card's formats (spec §9.2).
/// <para>
/// Accepted: fmt tags PCM (1), IEEE_FLOAT (3) and EXTENSIBLE (0xFFFE) with the KSDATAFORMAT_SUBTYPE_PCM or _IEEE_FLOAT
/// sub-format. Mapping to <see cref="Format"/>: 16-bit PCM → S16_LE; 24-bit packed PCM → S24_LE (each 3-byte sample
/// expanded to a sign-extended 32-bit container); a 32-bit container with at most 24 valid bits → S24_LE (the valid
/// bits sit at the top of the container: x = container » 8, arithmetic); 32-bit PCM (32 valid bits) → S32_LE;
/// 32-bit float → FLOAT_LE. Everything else (8-bit, 64-bit float, A-law, µ-law, ADPCM, ...) is rejected with a
/// <see cref="WavFormatException"/>.
/// </para>
/// <para>
/// Parsing: chunks other than fmt and data (LIST, fact, ...) are skipped, with the pad byte after an odd-sized
/// chunk; data must come after fmt, and parsing stops at data. A data size of 0 or 0xFFFFFFFF means "to the end of
/// the file" (streamed writers that never patched their header). The RIFF size is not trusted (streamed writers get
/// it wrong too): every chunk is checked against the real file length instead, and one that extends beyond it is
/// an error (a truncated file), as is a header that ends early. A trailing partial frame is ignored. Memory use is
/// bounded by constant-size buffers whatever the file says.
/// </para>
/// </summary>
internal sealed class WavReader : IDisposable
{
    private const int ScratchBytes = 12 * 1024; // a multiple of 3 and 4

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly int _fileFrameBytes;
    private byte[]? _scratch;
    private long _position;

    /// <summary>Parses the header of a seekable stream positioned anywhere (it is read from offset 0).</summary>
    /// <exception cref="WavFormatException">Malformed, truncated or unsupported.</exception>
    public WavReader(Stream stream, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek || !stream.CanRead)
        {
            throw new ArgumentException("a WAV reader needs a readable, seekable stream", nameof(stream));
        }

        _stream = stream;
        _leaveOpen = leaveOpen;
        try
        {
            (Format, Encoding, FormatTag, _fileFrameBytes, DataOffset, DataLength) = ParseHeader(stream);
        }
        catch
        {
            if (!leaveOpen)
            {
                stream.Dispose();
            }

            throw;
        }

        FrameCount = DataLength / _fileFrameBytes;
        _stream.Position = DataOffset;
    }

    /// <summary>The frames' format as <see cref="ReadFrames"/> returns them.</summary>
    public AudioFormat Format { get; }

    public WavSampleEncoding Encoding { get; }

    /// <summary>wFormatTag of the fmt chunk (for EXTENSIBLE: 0xFFFE).</summary>
    public int FormatTag { get; }

    /// <summary>Offset of the first frame in the file.</summary>
    public long DataOffset { get; }

    /// <summary>Bytes of frame data in the file (whole frames).</summary>
    public long DataLength { get; }

    public long FrameCount { get; }

    /// <summary>The next frame <see cref="ReadFrames"/> returns.</summary>
    public long Position => _position;

    /// <summary>Opens <paramref name="path"/> (shared for read and write, so a file being written can be read).</summary>
    /// <exception cref="WavFormatException">Malformed, truncated or unsupported.</exception>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    public static WavReader Open(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
        return new WavReader(stream);
    }

    /// <summary>Every frame of <paramref name="path"/> in <paramref name="format"/>.</summary>
    /// <param name="path">The WAV file.</param>
    /// <param name="format">The file's format, as the card's streams would carry it.</param>
    /// <param name="maxBytes">Refuse (with <see cref="WavFormatException"/>) files whose frames need more.</param>
    public static byte[] ReadAllFrames(string path, out AudioFormat format, long maxBytes = int.MaxValue)
    {
        using var reader = Open(path);
        format = reader.Format;
        long bytes = reader.FrameCount * reader.Format.FrameBytes;
        if (bytes > Math.Min(maxBytes, Array.MaxLength))
        {
            throw new WavFormatException(
                $"{path}: {reader.FrameCount} frames of {reader.Format} need {bytes} bytes, more than the {Math.Min(maxBytes, Array.MaxLength)} allowed");
        }

        var all = new byte[bytes];
        int read = reader.ReadFrames(all);
        if (read != reader.FrameCount)
        {
            throw new WavFormatException($"{path}: the file ended after {read} of {reader.FrameCount} frames");
        }

        return all;
    }

    /// <summary>Moves to frame <paramref name="frame"/> (0..<see cref="FrameCount"/>).</summary>
    public void Seek(long frame)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(frame);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(frame, FrameCount);
        _position = frame;
        _stream.Position = DataOffset + (frame * _fileFrameBytes);
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with as many whole frames of <see cref="Format"/> as fit and remain;
    /// returns how many (0 at the end). Does not allocate (the first packed-24 read allocates a 12 KiB buffer).
    /// </summary>
    /// <exception cref="WavFormatException">The file is shorter than its header said (it shrank).</exception>
    public int ReadFrames(Span<byte> destination)
    {
        int outFrameBytes = Format.FrameBytes;
        long want = Math.Min(destination.Length / outFrameBytes, FrameCount - _position);
        int frames = (int)want;
        if (frames <= 0)
        {
            return 0;
        }

        Span<byte> output = destination[..(frames * outFrameBytes)];
        try
        {
            if (Encoding == WavSampleEncoding.Pcm24Packed)
            {
                ReadPacked24(output);
            }
            else
            {
                _stream.ReadExactly(output);
                if (Encoding == WavSampleEncoding.Pcm24In32)
                {
                    for (int i = 0; i < output.Length; i += 4)
                    {
                        BinaryPrimitives.WriteInt32LittleEndian(output[i..], BinaryPrimitives.ReadInt32LittleEndian(output[i..]) >> 8);
                    }
                }
            }
        }
        catch (EndOfStreamException e)
        {
            throw new WavFormatException($"the WAV file ended before frame {_position + frames} of {FrameCount} (it shrank while being read)", e);
        }

        _position += frames;
        return frames;
    }

    public void Dispose()
    {
        if (!_leaveOpen)
        {
            _stream.Dispose();
        }
    }

    private void ReadPacked24(Span<byte> output)
    {
        _scratch ??= new byte[ScratchBytes];
        int samples = output.Length / 4;
        int done = 0;
        while (done < samples)
        {
            int n = Math.Min(samples - done, ScratchBytes / 3);
            Span<byte> packed = _scratch.AsSpan(0, n * 3);
            _stream.ReadExactly(packed);
            Span<byte> to = output.Slice(done * 4, n * 4);
            for (int i = 0; i < n; i++)
            {
                int v = packed[3 * i] | (packed[(3 * i) + 1] << 8) | (packed[(3 * i) + 2] << 16);
                BinaryPrimitives.WriteInt32LittleEndian(to[(4 * i)..], (v << 8) >> 8);
            }

            done += n;
        }
    }

    private static (AudioFormat Format, WavSampleEncoding Encoding, int Tag, int FileFrameBytes, long DataOffset, long DataLength)
        ParseHeader(Stream stream)
    {
        long fileLength = stream.Length;
        Span<byte> head = stackalloc byte[12];
        stream.Position = 0;
        if (fileLength < 12 || stream.ReadAtLeast(head, 12, throwOnEndOfStream: false) < 12)
        {
            throw new WavFormatException($"not a WAV file: {fileLength} bytes, shorter than a RIFF header (12)");
        }

        uint riff = BinaryPrimitives.ReadUInt32LittleEndian(head);
        if (riff != WavLayout.Riff)
        {
            string what = riff == WavLayout.FourCc("RIFX") ? "a big-endian RIFX file (unsupported)"
                : riff == WavLayout.FourCc("RF64") ? "an RF64 file (unsupported)"
                : "not a RIFF file (no 'RIFF' at offset 0)";
            throw new WavFormatException($"not a WAV file: {what}");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(head[8..]) != WavLayout.Wave)
        {
            throw new WavFormatException("not a WAV file: a RIFF file whose form type is not 'WAVE'");
        }

        Span<byte> chunk = stackalloc byte[8];
        Span<byte> fmt = stackalloc byte[40];
        int fmtLength = -1;
        long pos = 12;
        while (true)
        {
            if (fileLength - pos < 8)
            {
                throw new WavFormatException(fmtLength < 0
                    ? $"truncated WAV file: no fmt chunk before the end of the file ({fileLength} bytes)"
                    : $"truncated WAV file: no data chunk before the end of the file ({fileLength} bytes)");
            }

            stream.Position = pos;
            stream.ReadExactly(chunk);
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(chunk);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(chunk[4..]);
            long body = pos + 8;
            long remaining = fileLength - body;
            if (id == WavLayout.Data)
            {
                if (fmtLength < 0)
                {
                    throw new WavFormatException($"malformed WAV file: the data chunk (offset {pos}) comes before any fmt chunk");
                }

                var (format, encoding, tag, fileFrameBytes) = ParseFmt(fmt[..fmtLength]);
                long length = size is 0 or uint.MaxValue ? remaining : size;
                if (length > remaining)
                {
                    throw new WavFormatException(
                        $"truncated WAV file: the data chunk at offset {pos} declares {size} bytes but only {remaining} remain in the file");
                }

                return (format, encoding, tag, fileFrameBytes, body, length / fileFrameBytes * fileFrameBytes);
            }

            if (size > remaining)
            {
                throw new WavFormatException(
                    $"truncated WAV file: the '{ChunkName(id)}' chunk at offset {pos} declares {size} bytes but only {remaining} remain in the file");
            }

            if (id == WavLayout.Fmt && fmtLength < 0)
            {
                if (size < 16)
                {
                    throw new WavFormatException($"malformed WAV file: the fmt chunk is {size} bytes, shorter than the 16 of a WAVEFORMAT");
                }

                fmtLength = (int)Math.Min(size, 40);
                stream.ReadExactly(fmt[..fmtLength]);
            }

            pos = body + size + (size & 1);
        }
    }

    private static (AudioFormat Format, WavSampleEncoding Encoding, int Tag, int FileFrameBytes) ParseFmt(ReadOnlySpan<byte> fmt)
    {
        int tag = BinaryPrimitives.ReadUInt16LittleEndian(fmt);
        int channels = BinaryPrimitives.ReadUInt16LittleEndian(fmt[2..]);
        uint rate = BinaryPrimitives.ReadUInt32LittleEndian(fmt[4..]);
        int blockAlign = BinaryPrimitives.ReadUInt16LittleEndian(fmt[12..]);
        int bits = BinaryPrimitives.ReadUInt16LittleEndian(fmt[14..]);
        if (channels == 0)
        {
            throw new WavFormatException("malformed WAV file: the fmt chunk says 0 channels");
        }

        if (rate == 0 || rate > int.MaxValue)
        {
            throw new WavFormatException($"malformed WAV file: the fmt chunk says {rate} frames per second");
        }

        int subTag = tag;
        int validBits = bits;
        string described = $"format tag 0x{tag:X4} ({WavLayout.TagName(tag)})";
        if (tag == WavLayout.TagExtensible)
        {
            if (fmt.Length < 40)
            {
                throw new WavFormatException($"malformed WAV file: a WAVE_FORMAT_EXTENSIBLE fmt chunk needs 40 bytes, this one has {fmt.Length}");
            }

            int cbSize = BinaryPrimitives.ReadUInt16LittleEndian(fmt[16..]);
            if (cbSize < 22)
            {
                throw new WavFormatException($"malformed WAV file: WAVE_FORMAT_EXTENSIBLE with cbSize {cbSize} (needs at least 22)");
            }

            validBits = BinaryPrimitives.ReadUInt16LittleEndian(fmt[18..]);
            if (validBits == 0)
            {
                validBits = bits;
            }

            subTag = BinaryPrimitives.ReadUInt16LittleEndian(fmt[24..]);
            ReadOnlySpan<byte> guid = fmt.Slice(24, 16);
            if (!guid[2..].SequenceEqual(WavLayout.SubFormatGuidTail))
            {
                throw new WavFormatException($"unsupported WAV encoding: WAVE_FORMAT_EXTENSIBLE with sub-format {new Guid(guid)}; supported: PCM and IEEE float");
            }

            described = $"WAVE_FORMAT_EXTENSIBLE sub-format 0x{subTag:X4} ({WavLayout.TagName(subTag)})";
        }

        const string Supported = "supported: PCM 16-bit, 24-bit (packed or in 32), 32-bit; IEEE float 32-bit";
        (SampleFormat format, WavSampleEncoding encoding, int containerBytes) = (subTag, bits) switch
        {
            (WavLayout.TagPcm, 16) when validBits is > 0 and <= 16 => (SampleFormat.S16Le, WavSampleEncoding.Pcm16, 2),
            (WavLayout.TagPcm, 24) when validBits is > 0 and <= 24 => (SampleFormat.S24Le, WavSampleEncoding.Pcm24Packed, 3),
            (WavLayout.TagPcm, 32) when validBits is > 0 and <= 24 => (SampleFormat.S24Le, WavSampleEncoding.Pcm24In32, 4),
            (WavLayout.TagPcm, 32) when validBits is > 24 and <= 32 => (SampleFormat.S32Le, WavSampleEncoding.Pcm32, 4),
            (WavLayout.TagIeeeFloat, 32) when validBits == 32 => (SampleFormat.FloatLe, WavSampleEncoding.Float32, 4),
            (WavLayout.TagPcm or WavLayout.TagIeeeFloat, _) => throw new WavFormatException(
                $"unsupported WAV encoding: {described}, {bits}-bit samples ({validBits} valid bits); {Supported}"),
            _ => throw new WavFormatException($"unsupported WAV encoding: {described}; {Supported}"),
        };

        if (blockAlign != containerBytes * channels)
        {
            throw new WavFormatException(
                $"malformed WAV file: nBlockAlign {blockAlign} does not match {channels} channels of {bits}-bit samples ({containerBytes * channels})");
        }

        return (new AudioFormat(format, (int)rate, channels), encoding, tag, blockAlign);
    }

    private static string ChunkName(uint id)
    {
        Span<char> s = stackalloc char[4];
        for (int i = 0; i < 4; i++)
        {
            char c = (char)((id >> (8 * i)) & 0xFF);
            s[i] = c is >= ' ' and <= '~' ? c : '?';
        }

        return new string(s);
    }
}
