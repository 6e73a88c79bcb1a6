using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Transport;

/// <summary>What <see cref="MessageReader.Read"/> found.</summary>
public enum ReadStatus
{
    /// <summary>A whole message is available.</summary>
    Message,

    /// <summary>The declared size exceeds the limit: answer E2BIG; the body is skipped as it arrives.</summary>
    Oversize,

    /// <summary>Orderly end of stream between messages.</summary>
    EndOfStream,

    /// <summary>The stream cannot be trusted any more (short header size, truncated message, I/O error).</summary>
    Fatal,
}

/// <summary>
/// Frames the byte stream into messages over one reusable buffer, reading as many bytes as the transport
/// has per call: a request costs one receive, header and body together, and pipelined requests that arrive
/// together cost one receive between them; bytes of the next message stay buffered. Sizes are checked before any
/// buffering.
/// <para>
/// Fd attribution: a Linux AF_UNIX stream recvmsg (unix_stream_read_generic) detaches the fds of the first skb it
/// copies from that carried any, and stops right after that skb (or inside it, when the buffer is full). An skb
/// holds the bytes of one sendmsg, and a sender sends each message's fds with bytes of that message. So the fds
/// one receive returns belong to the message that contains the last byte it returned — whether that message
/// started in this receive or in an earlier one, and however many whole messages came before it in the same
/// receive. <see cref="InMemoryTransport"/> keeps the same rule.
/// </para>
/// Not thread-safe: one thread reads (the session or client thread).
/// </summary>
public sealed partial class MessageReader
{
    private readonly IMessageTransport _transport;
    private readonly ILogger _logger;
    private readonly byte[] _buffer;
    private readonly List<SafeFileHandle> _incoming = [];
    private readonly Queue<FdChunk> _fdChunks = new();
    private int _start;
    private int _end;
    private long _streamBase;
    private long _discard;

    /// <summary>
    /// A reader over <paramref name="transport"/> (not owned: disposing the transport is the caller's business) with a
    /// pinned buffer of <paramref name="maxMessageSize"/> bytes, the largest message it accepts whole; larger ones are
    /// <see cref="ReadStatus.Oversize"/>. <paramref name="logger"/> gets a warning when fds of a refused message are
    /// closed. Throws <see cref="ArgumentOutOfRangeException"/> when the size is below a header's.
    /// </summary>
    public MessageReader(IMessageTransport transport, int maxMessageSize, ILogger logger)
    {
        if (maxMessageSize < MessageHeader.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(maxMessageSize));
        }

        _transport = transport;
        _logger = logger;
        MaxMessageSize = maxMessageSize;
        _buffer = GC.AllocateUninitializedArray<byte>(maxMessageSize, pinned: true);
    }

    /// <summary>The largest message, header included, that is read whole.</summary>
    public int MaxMessageSize { get; }

    /// <summary>Why the stream was given up, once <see cref="Read"/> returned <see cref="ReadStatus.Fatal"/>; null before.</summary>
    public string? FatalReason { get; private set; }

    /// <summary>Bytes received so far.</summary>
    public long BytesReceived { get; private set; }

    /// <summary>Receive calls made so far.</summary>
    public long ReceiveCalls { get; private set; }

    /// <summary>
    /// Whether the next <see cref="Read"/> receives before it can return anything, i.e. no whole message (nor an
    /// oversized or malformed header) is buffered. A reply sent now may then travel with that receive.
    /// </summary>
    public bool NextReadReceives
    {
        get
        {
            if (_discard > 0)
            {
                return false;
            }

            int have = _end - _start;
            if (have < MessageHeader.Length)
            {
                return true;
            }

            uint size = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start + 4));
            return size >= MessageHeader.Length && size <= MaxMessageSize && have < size;
        }
    }

    /// <summary>
    /// Reads the next message, blocking in the transport until it is whole. On <see cref="ReadStatus.Message"/>, the
    /// message (<paramref name="header"/>, <paramref name="payload"/> and the fds added to <paramref name="fds"/>) stays
    /// valid until the next call; the caller takes the fds it keeps and releases the rest
    /// (<see cref="ReceivedFds.Release"/>). On <see cref="ReadStatus.Oversize"/> only the header is valid (the fds that
    /// came with it are in <paramref name="fds"/> too). After <see cref="ReadStatus.Fatal"/> or
    /// <see cref="ReadStatus.EndOfStream"/> there is nothing more to read.
    /// </summary>
    public ReadStatus Read(out MessageHeader header, out ReadOnlySpan<byte> payload, ReceivedFds fds)
    {
        payload = default;
        header = default;
        while (true)
        {
            if (_discard > 0)
            {
                int skip = (int)Math.Min(_discard, _end - _start);
                _start += skip;
                _discard -= skip;
                DropFdsOfRefusedMessage(_streamBase + _start);
            }

            if (_discard == 0 && _end - _start >= MessageHeader.Length)
            {
                MessageHeader.TryRead(_buffer.AsSpan(_start), out header);
                if (header.Size < MessageHeader.Length)
                {
                    FatalReason = $"message size {header.Size} is smaller than the header";
                    return ReadStatus.Fatal;
                }

                long messageStart = _streamBase + _start;
                if (header.Size > MaxMessageSize)
                {
                    ClaimFds(messageStart, header.Size, fds);
                    _discard = header.Size;
                    return ReadStatus.Oversize;
                }

                if (_end - _start >= header.Size)
                {
                    ClaimFds(messageStart, header.Size, fds);
                    payload = _buffer.AsSpan(_start + MessageHeader.Length, (int)header.Size - MessageHeader.Length);
                    _start += (int)header.Size;
                    return ReadStatus.Message;
                }
            }

            var status = Fill();
            if (status != ReadStatus.Message)
            {
                return status;
            }
        }
    }

    private ReadStatus Fill()
    {
        if (_start == _end)
        {
            _streamBase += _start;
            _start = _end = 0;
        }
        else if (_start > 0)
        {
            // Keep the partial message at the front so a maximum-size message always fits.
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _streamBase += _start;
            _end -= _start;
            _start = 0;
        }

        int n = _transport.Receive(_buffer.AsSpan(_end), _incoming, out bool truncated);
        ReceiveCalls++;
        if (n < 0)
        {
            DropIncoming();
            FatalReason = $"receive failed: {Interop.Errno.Name(-n)}";
            return ReadStatus.Fatal;
        }

        if (n == 0)
        {
            DropIncoming();
            DropAllFdChunks();
            if (_end != _start || _discard > 0)
            {
                FatalReason = "connection closed in the middle of a message";
                return ReadStatus.Fatal;
            }

            return ReadStatus.EndOfStream;
        }

        if (_incoming.Count > 0 || truncated)
        {
#pragma warning disable CA2000 // the queue owns the chunk: it leaves only for a message (ClaimFds) or to be closed (Drop*)
            _fdChunks.Enqueue(new FdChunk(_streamBase + _end, _streamBase + _end + n, [.. _incoming], truncated));
#pragma warning restore CA2000
            _incoming.Clear();
        }

        _end += n;
        BytesReceived += n;
        return ReadStatus.Message;
    }

    /// <summary>
    /// Hands <paramref name="fds"/> every fd chunk whose last byte lies in the message [start, start + size): a chunk's
    /// fds belong to the message holding the last byte of the receive that brought them (see the class remarks).
    /// A chunk ending before the message belonged to a message that was refused unread; it is closed.
    /// </summary>
    private void ClaimFds(long messageStart, long messageSize, ReceivedFds fds)
    {
        DropFdsOfRefusedMessage(messageStart);
        long messageEnd = messageStart + messageSize;
        while (_fdChunks.Count > 0 && _fdChunks.Peek().End <= messageEnd)
        {
            var chunk = _fdChunks.Dequeue();
            foreach (var fd in chunk.Fds)
            {
                fds.Add(fd);
            }

            fds.Truncated |= chunk.Truncated;
        }
    }

    /// <summary>Closes the fds of chunks that ended before <paramref name="streamOffset"/> without being claimed.</summary>
    private void DropFdsOfRefusedMessage(long streamOffset)
    {
        while (_fdChunks.Count > 0 && _fdChunks.Peek().End <= streamOffset)
        {
            var chunk = _fdChunks.Dequeue();
            LogOrphanFds(_logger, chunk.Fds.Count, chunk.End - 1);
            chunk.Dispose();
        }
    }

    private void DropIncoming()
    {
        foreach (var fd in _incoming)
        {
            fd.Dispose();
        }

        _incoming.Clear();
    }

    private void DropAllFdChunks()
    {
        while (_fdChunks.Count > 0)
        {
            _fdChunks.Dequeue().Dispose();
        }
    }

    [LoggerMessage(EventId = 1110, Level = LogLevel.Warning, Message = "Closing {Count} fd(s) that came with stream byte {Offset}, part of a message refused unread")]
    private static partial void LogOrphanFds(ILogger logger, int count, long offset);

    private sealed record FdChunk(long Start, long End, List<SafeFileHandle> Fds, bool Truncated) : IDisposable
    {
        public void Dispose() => Fds.ForEach(f => f.Dispose());
    }
}
