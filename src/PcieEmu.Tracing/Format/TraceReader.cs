using System.Buffers.Binary;
using System.Text;
using PcieEmu.Pci.Observation;

namespace PcieEmu.Tracing.Format;

/// <summary>
/// Reads a trace file record by record (src/PcieEmu.Tracing/TRACE-FORMAT.md), checking as it goes: magic, version, header,
/// every chunk's length and CRC, every record's kind and fields, and that the file ends with the End record
/// and nothing after it. Anything else is a <see cref="TraceFormatException"/> that says what and where.
/// </summary>
public sealed class TraceReader : IDisposable
{
    private readonly Stream _stream;
    private readonly string _name;
    private byte[] _chunk = [];
    private int _chunkLength;
    private int _at;
    /// <summary>File position of the next chunk header.</summary>
    private long _chunkOffset;
    private long _previousTime;
    private long _index;
    private bool _ended;

    private TraceReader(Stream stream, string name)
    {
        _stream = stream;
        _name = name;
        Header = ReadHeader();
        try
        {
            Schema = Header.Schema();
        }
        catch (TraceFormatException e)
        {
            throw Bad($"header: {e.Message}");
        }
    }

    public TraceHeader Header { get; }

    /// <summary>How this trace's records are read (the framework's kinds and the card's).</summary>
    public RecordSchema Schema { get; }

    /// <summary>Records read so far.</summary>
    public long Count => _index;

    /// <summary>How far through the file the reader is (0..1; 0 for a stream of unknown length).</summary>
    public double Fraction => _stream.CanSeek && _stream.Length > 0 ? Math.Min(1, (double)_chunkOffset / _stream.Length) : 0;

    /// <summary>Whether the End record has been read.</summary>
    public bool Ended => _ended;

    public static TraceReader Open(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TraceFormatException($"{path}: cannot open: {e.Message}");
        }

        try
        {
            return new TraceReader(stream, path);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public static TraceReader Open(Stream stream, string name) => new(stream, name);

    /// <summary>Every record of <paramref name="path"/> (End excluded), checked.</summary>
    public static IEnumerable<TraceEvent> ReadAll(string path)
    {
        using var reader = Open(path);
        while (reader.TryRead(out var e))
        {
            yield return e;
        }
    }

    /// <summary>The next record; false after the End record. Throws <see cref="TraceFormatException"/> on a bad file.</summary>
    public bool TryRead(out TraceEvent record)
    {
        record = null!;
        if (_ended)
        {
            return false;
        }

        if (_at >= _chunkLength && !NextChunk())
        {
            throw Bad($"truncated after {_index} records: no End record (the recording did not finish; was the server killed?)", truncated: true);
        }

        long index = _index;
        var span = _chunk.AsSpan(0, _chunkLength);
        int start = _at;
        var kind = (TraceEventKind)span[_at++];
        var fields = Schema.FieldsOf(kind) ?? throw Bad($"record {index}: unknown kind {(byte)kind} at chunk offset {start}");
        long time = _previousTime;
        ulong a = 0, b = 0, c = 0;
        byte[] data = [];
        string? text = null, detail = null;
        if ((fields & TraceFields.Time) != 0)
        {
            ulong delta = Varint(span, index, "time");
            if (delta > (ulong)(long.MaxValue - _previousTime))
            {
                throw Bad($"record {index} ({kind}): time overflows");
            }

            time = _previousTime + (long)delta;
            _previousTime = time;
        }

        if ((fields & TraceFields.A) != 0)
        {
            a = Varint(span, index, "A");
        }

        if ((fields & TraceFields.B) != 0)
        {
            b = Varint(span, index, "B");
        }

        if ((fields & TraceFields.C) != 0)
        {
            c = Varint(span, index, "C");
        }

        if ((fields & TraceFields.Data) != 0)
        {
            data = Bytes(span, index, kind).ToArray();
        }

        if ((fields & TraceFields.Text) != 0)
        {
            text = Utf8(span, index, kind);
        }

        if ((fields & TraceFields.Detail) != 0)
        {
            detail = Utf8(span, index, kind);
        }

        if (kind == TraceEventKind.End)
        {
            if (a != (ulong)index)
            {
                throw Bad($"End record says {a} records, the file has {index}");
            }

            if (_at != _chunkLength || _stream.ReadByte() != -1)
            {
                throw Bad("data after the End record");
            }

            _ended = true;
            return false;
        }

        _index++;
        record = new TraceEvent { Index = index, Kind = kind, Time = time, A = a, B = b, C = c, Data = data, Text = text, Detail = detail };
        return true;
    }

    public void Dispose() => _stream.Dispose();

    private TraceHeader ReadHeader()
    {
        Span<byte> preamble = stackalloc byte[TraceFormat.PreambleBytes];
        if (!ReadExactly(preamble))
        {
            throw Bad("too short to be a trace (no preamble)");
        }

        if (!preamble[..8].SequenceEqual(TraceFormat.Magic))
        {
            throw Bad("not a pcieemu trace (bad magic)");
        }

        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(preamble[8..]);
        if (version != TraceFormat.Version)
        {
            throw Bad($"trace format version {version}; this pcieemu reads version {TraceFormat.Version} only");
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(preamble[12..]);
        if (length <= 0 || length > TraceFormat.MaxHeaderBytes)
        {
            throw Bad($"header length {length} is out of range");
        }

        var json = new byte[length + 4];
        if (!ReadExactly(json))
        {
            throw Bad("truncated inside the header");
        }

        if (Crc32.Compute(json.AsSpan(0, length)) != BinaryPrimitives.ReadUInt32LittleEndian(json.AsSpan(length)))
        {
            throw Bad("header CRC mismatch (corrupt file)");
        }

        TraceHeader? header;
        try
        {
            header = TraceHeader.FromJson(json.AsSpan(0, length));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw Bad($"header is not valid JSON: {e.Message}");
        }

        if (header is null || string.IsNullOrEmpty(header.Card) || string.IsNullOrEmpty(header.ModelJson))
        {
            throw Bad("header lacks the card or its model");
        }

        if (TraceHeader.Sha256Of(header.ModelJson) != header.ModelSha256)
        {
            throw Bad("the model embedded in the header does not match its SHA-256 (corrupt file)");
        }

        _chunkOffset = TraceFormat.PreambleBytes + length + 4;
        return header;
    }

    private bool NextChunk()
    {
        Span<byte> head = stackalloc byte[TraceFormat.ChunkHeaderBytes];
        long offset = _chunkOffset;

        int got = ReadSome(head);
        if (got == 0)
        {
            return false;
        }

        if (got < head.Length)
        {
            throw Bad($"truncated in a chunk header at byte {offset}, after {_index} records", truncated: true);
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(head);
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(head[4..]);
        if (length <= 0 || length > TraceFormat.MaxChunkBytes)
        {
            throw Bad($"chunk at byte {offset}: length {length} is out of range (corrupt file)");
        }

        if (_chunk.Length < length)
        {
            _chunk = new byte[Math.Max(length, TraceFormat.ChunkTargetBytes)];
        }

        if (!ReadExactly(_chunk.AsSpan(0, length)))
        {
            throw Bad($"truncated inside the chunk at byte {offset} ({length} B announced), after {_index} records", truncated: true);
        }

        if (Crc32.Compute(_chunk.AsSpan(0, length)) != crc)
        {
            throw Bad($"chunk at byte {offset}: CRC mismatch (corrupt file), after {_index} records");
        }

        _chunkOffset = offset + TraceFormat.ChunkHeaderBytes + length;
        _chunkLength = length;
        _at = 0;
        return true;
    }

    private ulong Varint(ReadOnlySpan<byte> span, long index, string field) =>
        TraceFormat.TryReadVarint(span, ref _at, out ulong v) ? v : throw Bad($"record {index}: field {field} runs past its chunk");

    private ReadOnlySpan<byte> Bytes(ReadOnlySpan<byte> span, long index, TraceEventKind kind)
    {
        ulong length = Varint(span, index, "length");
        if (length > (ulong)(span.Length - _at))
        {
            throw Bad($"record {index} ({kind}): {length} bytes announced, {span.Length - _at} left in its chunk");
        }

        var bytes = span.Slice(_at, (int)length);
        _at += (int)length;
        return bytes;
    }

    private string Utf8(ReadOnlySpan<byte> span, long index, TraceEventKind kind)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(Bytes(span, index, kind));
        }
        catch (DecoderFallbackException)
        {
            throw Bad($"record {index} ({kind}): text is not UTF-8");
        }
    }

    private bool ReadExactly(Span<byte> buffer) => ReadSome(buffer) == buffer.Length;

    private int ReadSome(Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = _stream.Read(buffer[total..]);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    private TraceFormatException Bad(string what, bool truncated = false) => new($"{_name}: {what}", truncated);
}
