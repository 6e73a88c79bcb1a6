using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Transport;

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
/// has per call (pipelined requests cost one receive, not one per message). Sizes are checked before any
/// buffering. Fds ride on the first byte of the sender's sendmsg and the kernel never reads past a
/// chunk that carried fds, so the fds of a chunk belong to the last message that starts in it.
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

    public int MaxMessageSize { get; }

    public string? FatalReason { get; private set; }

    /// <summary>Bytes received so far.</summary>
    public long BytesReceived { get; private set; }

    /// <summary>Receive calls made so far.</summary>
    public long ReceiveCalls { get; private set; }

    /// <summary>
    /// Reads the next message. On <see cref="ReadStatus.Message"/>, <paramref name="message"/> (header, payload
    /// and fds) stays valid until the next call; the caller releases the fds it did not take.
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
            _fdChunks.Enqueue(new FdChunk(_streamBase + _end, _streamBase + _end + n, [.. _incoming], truncated));
            _incoming.Clear();
        }

        _end += n;
        BytesReceived += n;
        return ReadStatus.Message;
    }

    private void ClaimFds(long messageStart, long messageSize, ReceivedFds fds)
    {
        while (_fdChunks.Count > 0)
        {
            var chunk = _fdChunks.Peek();
            if (chunk.End <= messageStart)
            {
                // No message started in that chunk's bytes at or after its fds: nothing can own them.
                _fdChunks.Dequeue();
                LogOrphanFds(_logger, chunk.Fds.Count, chunk.Start);
                chunk.Dispose();
                continue;
            }

            if (chunk.Start <= messageStart && messageStart < chunk.End && messageStart + messageSize >= chunk.End)
            {
                _fdChunks.Dequeue();
                foreach (var fd in chunk.Fds)
                {
                    fds.Add(fd);
                }

                fds.Truncated = chunk.Truncated;
            }

            return;
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

    [LoggerMessage(EventId = 1110, Level = LogLevel.Warning, Message = "Closing {Count} fd(s) received at stream offset {Offset} that belong to no message")]
    private static partial void LogOrphanFds(ILogger logger, int count, long offset);

    private sealed record FdChunk(long Start, long End, List<SafeFileHandle> Fds, bool Truncated) : IDisposable
    {
        public void Dispose() => Fds.ForEach(f => f.Dispose());
    }
}
