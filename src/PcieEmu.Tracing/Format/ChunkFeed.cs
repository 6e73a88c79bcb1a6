using System.Buffers.Binary;
using System.Collections.Concurrent;

namespace PcieEmu.Tracing.Format;

/// <summary>
/// A trace's chunks, in file order, each checked (length, CRC) before anyone reads a record of it. A thread reads
/// and checks ahead, at most <see cref="Ahead"/> chunks, so the file's I/O and checksums run beside whatever
/// consumes the records (a replay), not in its way. Buffers circulate between the two threads (at most
/// <see cref="Ahead"/> + 2 exist) and go back when the consumer moves on: a chunk's bytes are valid until the next
/// <see cref="TryNext"/>.
/// </summary>
internal sealed class ChunkFeed : IDisposable
{
    /// <summary>Chunks read ahead at most (each up to <see cref="TraceFormat.ChunkTargetBytes"/>, or one larger record).</summary>
    public const int Ahead = 8;

    private readonly Stream _stream;
    private readonly string _name;
    private readonly BlockingCollection<Item> _items = new(Ahead);

    /// <summary>Buffers the consumer is done with, back to the reader thread: no allocation per chunk, no pool churn.</summary>
    private readonly ConcurrentQueue<byte[]> _free = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private byte[]? _current;
    private bool _done;

    public ChunkFeed(Stream stream, long firstChunkOffset, string name)
    {
        _stream = stream;
        _name = name;
        Position = firstChunkOffset;
        _thread = new Thread(() => Produce(firstChunkOffset)) { IsBackground = true, Name = "pcieemu-trace-reader" };
        _thread.Start();
    }

    /// <summary>File position just past the chunk the consumer holds.</summary>
    public long Position { get; private set; }

    /// <summary>
    /// The next chunk's payload (valid until the next call). False at the end of the file; a damaged or cut file
    /// throws, the message naming <paramref name="recordsSoFar"/>.
    /// </summary>
    public bool TryNext(long recordsSoFar, out byte[] buffer, out int length)
    {
        Release();
        buffer = [];
        length = 0;
        if (_done)
        {
            return false;
        }

        var item = _items.Take();
        if (item.Error is { } error)
        {
            _done = true;
            throw error(recordsSoFar);
        }

        if (item.Buffer is null)
        {
            _done = true;
            return false;
        }

        _current = item.Buffer;
        buffer = item.Buffer;
        length = item.Length;
        Position = item.End;
        return true;
    }

    /// <summary>After the End record: whether the file ends there (no chunk, no stray bytes after the one holding End).</summary>
    public bool EndsHere()
    {
        Release();
        if (_done)
        {
            return true;
        }

        var item = _items.Take();
        _done = true;
        if (item.Buffer is { } stray)
        {
            _free.Enqueue(stray);
        }

        return item.Buffer is null && item.Error is null;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        Release();
        while (_items.TryTake(out _))
        {
            // Drop what was read ahead: its buffers go with the feed.
        }

        _items.Dispose();
        _stop.Dispose();
        _stream.Dispose();
    }

    private void Release()
    {
        if (_current is { } c)
        {
            _free.Enqueue(c);
            _current = null;
        }
    }

    private void Produce(long offset)
    {
        Span<byte> head = stackalloc byte[TraceFormat.ChunkHeaderBytes];
        try
        {
            while (true)
            {
                int got = ReadSome(head);
                if (got == 0)
                {
                    _items.Add(default, _stop.Token);
                    return;
                }

                long at = offset;
                if (got < head.Length)
                {
                    Fail(n => Bad($"truncated in a chunk header at byte {at}, after {n} records", truncated: true));
                    return;
                }

                int length = BinaryPrimitives.ReadInt32LittleEndian(head);
                uint crc = BinaryPrimitives.ReadUInt32LittleEndian(head[4..]);
                if (length <= 0 || length > TraceFormat.MaxChunkBytes)
                {
                    Fail(_ => Bad($"chunk at byte {at}: length {length} is out of range (corrupt file)"));
                    return;
                }

                byte[] buffer = Rent(length);
                if (ReadSome(buffer.AsSpan(0, length)) != length)
                {
                    _free.Enqueue(buffer);
                    Fail(n => Bad($"truncated inside the chunk at byte {at} ({length} B announced), after {n} records", truncated: true));
                    return;
                }

                if (Crc32.Compute(buffer.AsSpan(0, length)) != crc)
                {
                    _free.Enqueue(buffer);
                    Fail(n => Bad($"chunk at byte {at}: CRC mismatch (corrupt file), after {n} records"));
                    return;
                }

                offset += TraceFormat.ChunkHeaderBytes + length;
                try
                {
                    _items.Add(new Item(buffer, length, offset, null), _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    _free.Enqueue(buffer);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The reader was disposed: nobody takes chunks any more.
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
            Fail(_ => Bad($"cannot read: {e.Message}"));
        }
    }

    private byte[] Rent(int length)
    {
        while (_free.TryDequeue(out var buffer))
        {
            if (buffer.Length >= length)
            {
                return buffer;
            }
        }

        return new byte[Math.Max(length, TraceFormat.ChunkTargetBytes)];
    }

    private void Fail(Func<long, TraceFormatException> error)
    {
        try
        {
            _items.Add(new Item(null, 0, 0, error), _stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private int ReadSome(Span<byte> buffer) => TraceFormat.ReadUpTo(_stream, buffer);

    private TraceFormatException Bad(string what, bool truncated = false) => new($"{_name}: {what}", truncated);

    /// <summary>A checked chunk, the end of the file (all null), or an error to raise when the consumer gets here.</summary>
    private readonly record struct Item(byte[]? Buffer, int Length, long End, Func<long, TraceFormatException>? Error);
}
