using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Observation;

namespace PcieEmu.Tracing.Format;

/// <summary>
/// Streams records into a trace file (src/PcieEmu.Tracing/TRACE-FORMAT.md). Records are encoded into a pooled chunk buffer on the
/// caller's thread (the device's, inside a trace unit) and whole chunks go to a writer thread through a bounded
/// queue: memory stays bounded (at most <see cref="QueuedChunks"/> chunks in flight; a full queue makes the device
/// wait, never drops), and file I/O never runs inside a unit. <see cref="Complete"/> writes the End record.
/// Attach it to a device with its Observe method (<see cref="Recording.TraceRecording.Start(PcieEmu.Devices.IEmulatedCard, string, IReadOnlyDictionary{string, string}, string)"/>
/// does that) or feed it records yourself, e.g. to write a filtered copy of a trace. Thread-safe.
/// </summary>
public sealed class TraceWriter : IFunctionObserver, IDisposable
{
    /// <summary>Chunks (about 64 KiB each) that may wait for the writer thread before a recording device waits too.</summary>
    public const int QueuedChunks = 64;

    /// <summary>How long a partly filled chunk may wait for more records before it is written anyway.</summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);

    private readonly Stream _stream;
    private readonly BlockingCollection<(byte[] Buffer, int Length)> _chunks = new(QueuedChunks);
    private readonly Thread _thread;

    /// <summary>
    /// Records arrive under the function's trace gate, but <see cref="Complete"/> comes from whoever ends the
    /// recording (a server shutting down) while a device thread may still be inside a unit.
    /// </summary>
    private readonly Lock _sync = new();
    private readonly RecordSchema _schema;
    private byte[] _chunk;
    private int _length;
    private long _previousTime;
    private long _records;
    private long _bytes;
    private Exception? _error;
    private bool _completed;

    /// <summary>
    /// Creates (or replaces) the file at <paramref name="path"/> and writes the preamble and <paramref name="header"/>
    /// at once. Throws the usual file exceptions (<see cref="IOException"/>, <see cref="UnauthorizedAccessException"/>),
    /// and <see cref="TraceFormatException"/> when the header's device kinds are malformed.
    /// </summary>
    public TraceWriter(string path, TraceHeader header)
        : this(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16), header)
    {
        Path = path;
    }

    /// <summary>
    /// Writes a trace to <paramref name="stream"/>, which it owns from now on (<see cref="Complete"/> closes it);
    /// otherwise as the path form.
    /// </summary>
    public TraceWriter(Stream stream, TraceHeader header)
    {
        _stream = stream;
        Header = header;
        _schema = header.Schema();
        byte[] json = header.ToJson();
        Span<byte> preamble = stackalloc byte[TraceFormat.PreambleBytes];
        TraceFormat.WritePreamble(preamble, json.Length);
        _stream.Write(preamble);
        _stream.Write(json);
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(crc, Crc32.Compute(json));
        _stream.Write(crc);
        _stream.Flush(); // a recorder killed at once still leaves a file that says what it is
        _bytes = TraceFormat.PreambleBytes + json.Length + 4;
        _chunk = ArrayPool<byte>.Shared.Rent(TraceFormat.ChunkTargetBytes);
        _thread = new Thread(WriteChunks) { IsBackground = true, Name = "pcieemu-trace-writer" };
        _thread.Start();
    }

    /// <summary>The file written, or null for a writer over a stream.</summary>
    public string? Path { get; }

    /// <summary>The header written at the start of the trace.</summary>
    public TraceHeader Header { get; }

    /// <summary>False: a recorder lets device DMA reach guest memory and records what it did.</summary>
    public bool SuppliesDma => false;

    /// <summary>Records written so far.</summary>
    public long Records => Interlocked.Read(ref _records);

    /// <summary>Bytes handed to the file so far (header and complete chunks).</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>
    /// Appends one record. Its kind must be one the header declares (<see cref="ArgumentException"/> otherwise); only
    /// the fields its kind carries are written. After <see cref="Complete"/>, or once writing failed, records are
    /// dropped. Blocks while <see cref="QueuedChunks"/> chunks wait for the file.
    /// </summary>
    public void Write(in TraceRecord record)
    {
        lock (_sync)
        {
            WriteLocked(record);
        }
    }

    private void WriteLocked(in TraceRecord record)
    {
        if (_completed || _error is not null)
        {
            return;
        }

        var fields = _schema.FieldsOf(record.Kind) ?? throw new ArgumentException($"record kind {(byte)record.Kind} is not declared in the trace header", nameof(record));
        int textBytes = record.Text is null ? 0 : Encoding.UTF8.GetByteCount(record.Text);
        int detailBytes = record.Detail is null ? 0 : Encoding.UTF8.GetByteCount(record.Detail);
        int bound = 1 + (6 * TraceFormat.MaxVarintBytes) + record.Data.Length + textBytes + detailBytes;
        if (_length > 0 && _length + bound > TraceFormat.ChunkTargetBytes)
        {
            FlushChunk();
        }

        if (bound > _chunk.Length)
        {
            ArrayPool<byte>.Shared.Return(_chunk);
            _chunk = ArrayPool<byte>.Shared.Rent(bound);
        }

        var span = _chunk.AsSpan(_length);
        int n = 0;
        span[n++] = (byte)record.Kind;
        if ((fields & TraceFields.Time) != 0)
        {
            long delta = record.Time - _previousTime;
            if (delta < 0)
            {
                // Unit times are sampled under the trace gate from a monotonic clock; never expected.
                delta = 0;
            }

            n += TraceFormat.WriteVarint(span[n..], (ulong)delta);
            _previousTime += delta;
        }

        if ((fields & TraceFields.A) != 0)
        {
            n += TraceFormat.WriteVarint(span[n..], record.A);
        }

        if ((fields & TraceFields.B) != 0)
        {
            n += TraceFormat.WriteVarint(span[n..], record.B);
        }

        if ((fields & TraceFields.C) != 0)
        {
            n += TraceFormat.WriteVarint(span[n..], record.C);
        }

        if ((fields & TraceFields.Data) != 0)
        {
            n += TraceFormat.WriteVarint(span[n..], (ulong)record.Data.Length);
            record.Data.CopyTo(span[n..]);
            n += record.Data.Length;
        }

        if ((fields & TraceFields.Text) != 0)
        {
            n += WriteString(span[n..], record.Text, textBytes);
        }

        if ((fields & TraceFields.Detail) != 0)
        {
            n += WriteString(span[n..], record.Detail, detailBytes);
        }

        _length += n;
        Interlocked.Increment(ref _records);
    }

    /// <summary>Not for a recorder (<see cref="SuppliesDma"/> is false): throws <see cref="InvalidOperationException"/>.</summary>
    public DmaResult SupplyDma(in TraceRecord attempt, Span<byte> readInto) =>
        throw new InvalidOperationException("a trace writer records; it does not replay");

    /// <summary>
    /// Writes the End record and everything pending, and closes the file; later calls do nothing more. Throws
    /// <see cref="IOException"/> if any write failed (the file is then incomplete). To end the recording of a device
    /// that may still be running, use <see cref="Recording.TraceRecording.Finish"/>.
    /// </summary>
    public void Complete()
    {
        bool first;
        lock (_sync)
        {
            first = !_completed;
            if (first)
            {
                WriteLocked(new TraceRecord(TraceEventKind.End, a: (ulong)Records));
                _completed = true;
                FlushChunk();
            }
        }

        if (first)
        {
            _chunks.CompleteAdding();
            _thread.Join();
            _chunks.Dispose(); // the writer thread is gone, and nothing is added after completion
            _stream.Flush();
            _stream.Dispose();
            ArrayPool<byte>.Shared.Return(_chunk);
        }

        if (_error is not null)
        {
            throw new IOException($"writing the trace{(Path is null ? "" : " " + Path)} failed: {_error.Message}", _error);
        }
    }

    /// <summary><see cref="Complete"/> without the exception: a write failure is only reported to <see cref="Complete"/> callers.</summary>
    public void Dispose()
    {
        try
        {
            Complete();
        }
        catch (IOException)
        {
            // Complete() already reported it to whoever asked; Dispose must not throw.
        }
    }

    private static int WriteString(Span<byte> destination, string? value, int bytes)
    {
        int n = TraceFormat.WriteVarint(destination, (ulong)bytes);
        if (value is not null)
        {
            n += Encoding.UTF8.GetBytes(value, destination[n..]);
        }

        return n;
    }

    private void FlushChunk()
    {
        if (_length == 0)
        {
            return;
        }

        var full = _chunk;
        int length = _length;
        _chunk = ArrayPool<byte>.Shared.Rent(TraceFormat.ChunkTargetBytes);
        _length = 0;
        _chunks.Add((full, length));
    }

    private void WriteChunks()
    {
        while (!_chunks.IsCompleted)
        {
            (byte[] Buffer, int Length) chunk;
            try
            {
                if (!_chunks.TryTake(out chunk, FlushInterval))
                {
                    // Quiet for a while: write out the partly filled chunk, so a recorder killed now loses at most
                    // this interval of its session instead of up to a whole chunk (all of a short session).
                    if (TakePartialChunk() is not { } partial)
                    {
                        continue;
                    }

                    chunk = partial;
                }
            }
            catch (InvalidOperationException)
            {
                break; // completed while waiting
            }

            WriteChunk(chunk.Buffer, chunk.Length);
        }
    }

    /// <summary>The chunk being filled, if it holds anything, the recording is open and nothing is queued before it.</summary>
    private (byte[] Buffer, int Length)? TakePartialChunk()
    {
        lock (_sync)
        {
            // Chunks are queued under this lock: an empty queue here means no earlier chunk is still unwritten.
            if (_completed || _length == 0 || _chunks.Count > 0)
            {
                return null;
            }

            var partial = (_chunk, _length);
            _chunk = ArrayPool<byte>.Shared.Rent(TraceFormat.ChunkTargetBytes);
            _length = 0;
            return partial;
        }
    }

    private void WriteChunk(byte[] buffer, int length)
    {
        Span<byte> header = stackalloc byte[TraceFormat.ChunkHeaderBytes];
        try
        {
            if (_error is null)
            {
                BinaryPrimitives.WriteInt32LittleEndian(header, length);
                BinaryPrimitives.WriteUInt32LittleEndian(header[4..], Crc32.Compute(buffer.AsSpan(0, length)));
                _stream.Write(header);
                _stream.Write(buffer, 0, length);
                _stream.Flush();
                Interlocked.Add(ref _bytes, TraceFormat.ChunkHeaderBytes + length);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            _error = e;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
