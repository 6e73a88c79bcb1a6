using System.Buffers.Binary;
using PcieEmu.Pci.Observation;

namespace PcieEmu.Tracing.Format;

/// <summary>
/// Reads a trace file record by record (src/PcieEmu.Tracing/TRACE-FORMAT.md), checking as it goes: magic, version, header,
/// every chunk's length and CRC, every record's kind and fields, and that the file ends with the End record
/// and nothing after it. Anything else is a <see cref="TraceFormatException"/> that says what and where.
/// Reads forward only; not thread-safe. Disposing closes the file or stream.
/// </summary>
public sealed class TraceReader : IDisposable
{
#pragma warning disable CA2213 // the chunk feed owns it and closes it, once its read-ahead thread has stopped
    private readonly Stream _stream;
#pragma warning restore CA2213
    private readonly string _name;
    private readonly ChunkFeed _chunks;
    private byte[] _chunk = [];
    private int _chunkLength;
    private int _at;
    private long _previousTime;
    private long _index;
    private bool _ended;

    private TraceReader(Stream stream, string name)
    {
        _stream = stream;
        _name = name;
        Header = ReadHeader(out long firstChunk);
        try
        {
            Schema = Header.Schema();
        }
        catch (TraceFormatException e)
        {
            throw Bad($"header: {e.Message}");
        }

        _chunks = new ChunkFeed(stream, firstChunk, name);
    }

    /// <summary>What the trace was recorded against, read and checked (CRC, model hash) when the reader was opened.</summary>
    public TraceHeader Header { get; }

    /// <summary>The file name (or stream name) messages use.</summary>
    public string Name => _name;

    /// <summary>How this trace's records are read (the framework's kinds and the card's).</summary>
    public RecordSchema Schema { get; }

    /// <summary>Records read so far.</summary>
    public long Count => _index;

    /// <summary>How far through the file the reader is (0..1; 0 for a stream of unknown length).</summary>
    public double Fraction => _stream.CanSeek && _stream.Length > 0 ? Math.Min(1, (double)_chunks.Position / _stream.Length) : 0;

    /// <summary>Whether the End record has been read.</summary>
    public bool Ended => _ended;

    /// <summary>
    /// Opens a trace file and reads its header. Throws <see cref="TraceFormatException"/> when the file cannot be
    /// opened, is not a trace, has another format version, or its header is damaged.
    /// </summary>
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

    /// <summary>
    /// A reader over <paramref name="stream"/>, which it owns from now on; <paramref name="name"/> stands for the file
    /// in messages. Reads the header at once and throws as <see cref="Open(string)"/> does.
    /// </summary>
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
        if (!TryReadView(out RecordView view))
        {
            record = null!;
            return false;
        }

        record = view.ToEvent();
        return true;
    }

    /// <summary>
    /// The next record without copying anything: its data and texts point into the reader's chunk buffer and are
    /// valid only until the next read. False after the End record. Throws <see cref="TraceFormatException"/> on a
    /// bad file.
    /// </summary>
    // Fully optimised from the first call: a replay is seconds long, and a hot loop left in tier-0 code until
    // on-stack replacement cost it a third of its time.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal bool TryReadView(out RecordView record)
    {
        record = default;
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
        ReadOnlySpan<byte> data = default, text = default, detail = default;
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
            data = Bytes(span, index, kind);
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

            if (_at != _chunkLength || !_chunks.EndsHere())
            {
                throw Bad("data after the End record");
            }

            _ended = true;
            return false;
        }

        _index++;
        record = new RecordView(index, kind, time, a, b, c, data, text, detail);
        return true;
    }

    /// <summary>Closes the file or stream.</summary>
    public void Dispose() => _chunks.Dispose();

    private TraceHeader ReadHeader(out long firstChunk)
    {
        firstChunk = 0;
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

        firstChunk = TraceFormat.PreambleBytes + length + 4;
        return header;
    }

    private bool NextChunk()
    {
        if (!_chunks.TryNext(_index, out _chunk, out _chunkLength))
        {
            return false;
        }

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

    /// <summary>A UTF-8 field, checked (decoded only when someone asks for the string).</summary>
    private ReadOnlySpan<byte> Utf8(ReadOnlySpan<byte> span, long index, TraceEventKind kind)
    {
        var bytes = Bytes(span, index, kind);
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            throw Bad($"record {index} ({kind}): text is not UTF-8");
        }

        return bytes;
    }

    private bool ReadExactly(Span<byte> buffer) => ReadSome(buffer) == buffer.Length;

    private int ReadSome(Span<byte> buffer) => TraceFormat.ReadUpTo(_stream, buffer);

    private TraceFormatException Bad(string what, bool truncated = false) => new($"{_name}: {what}", truncated);
}

/// <summary>
/// One record as <see cref="TraceReader.TryReadView"/> returns it: no copy, so its spans are valid only
/// until the next read. <see cref="ToEvent"/> makes a lasting copy.
/// </summary>
internal readonly ref struct RecordView
{
    internal RecordView(long index, TraceEventKind kind, long time, ulong a, ulong b, ulong c, ReadOnlySpan<byte> data,
        ReadOnlySpan<byte> textUtf8, ReadOnlySpan<byte> detailUtf8)
    {
        Index = index;
        Kind = kind;
        Time = time;
        A = a;
        B = b;
        C = c;
        Data = data;
        TextUtf8 = textUtf8;
        DetailUtf8 = detailUtf8;
    }

    public long Index { get; }

    public TraceEventKind Kind { get; }

    /// <summary>Device-clock nanoseconds of the unit this record is (or belongs to).</summary>
    public long Time { get; }

    public ulong A { get; }

    public ulong B { get; }

    public ulong C { get; }

    public ReadOnlySpan<byte> Data { get; }

    public ReadOnlySpan<byte> TextUtf8 { get; }

    public ReadOnlySpan<byte> DetailUtf8 { get; }

    public bool IsUnit => TraceSchema.IsUnit(Kind);

    /// <summary>Whether the text equals <paramref name="text"/> (null matches an absent field), without decoding.</summary>
    public bool TextIs(string? text) => Same(TextUtf8, text);

    public bool DetailIs(string? detail) => Same(DetailUtf8, detail);

    public TraceEvent ToEvent() => new()
    {
        Index = Index,
        Kind = Kind,
        Time = Time,
        A = A,
        B = B,
        C = C,
        Data = Data.ToArray(),
        Text = TextUtf8.IsEmpty && !HasField(TextUtf8) ? null : System.Text.Encoding.UTF8.GetString(TextUtf8),
        Detail = DetailUtf8.IsEmpty && !HasField(DetailUtf8) ? null : System.Text.Encoding.UTF8.GetString(DetailUtf8),
    };

    private static bool HasField(ReadOnlySpan<byte> field) => !System.Runtime.CompilerServices.Unsafe.IsNullRef(in System.Runtime.InteropServices.MemoryMarshal.GetReference(field));

    private static bool Same(ReadOnlySpan<byte> utf8, string? text)
    {
        if (text is null)
        {
            return !HasField(utf8);
        }

        if (!HasField(utf8) || System.Text.Encoding.UTF8.GetByteCount(text) != utf8.Length)
        {
            return false;
        }

        Span<byte> buffer = utf8.Length <= 256 ? stackalloc byte[utf8.Length] : new byte[utf8.Length];
        System.Text.Encoding.UTF8.GetBytes(text, buffer);
        return buffer.SequenceEqual(utf8);
    }
}
