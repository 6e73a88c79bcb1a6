using System.Buffers;
using Microsoft.Extensions.Logging;
using PcieEmu.Pci.Dma;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// Server→client requests (DMA_READ/DMA_WRITE) on the shared socket. A device worker sends and waits; the
/// socket thread, which keeps serving the client meanwhile, completes the wait when the reply arrives. The
/// socket thread itself never waits here (it alone can read the reply), and pending requests fail at once
/// when their mapping is revoked or the client goes away.
/// </summary>
internal sealed partial class ClientRequests
{
    private readonly Func<ReadOnlyMemory<byte>, int> _send;
    private readonly TimeSpan _timeout;
    private readonly ILogger _logger;
    private readonly Dictionary<ushort, Pending> _pending = [];
    private readonly Stack<Pending> _pool = new();
    private int _nextId;
    private bool _closed;

    public ClientRequests(Func<ReadOnlyMemory<byte>, int> send, TimeSpan timeout, ILogger logger)
    {
        _send = send;
        _timeout = timeout;
        _logger = logger;
    }

    /// <summary>The socket thread's managed id, set when it starts: requests from it are refused.</summary>
    public int LoopThreadId { get; set; } = -1;

    /// <summary>Largest count per message: the smaller of the client's max_data_xfer_size and ours.</summary>
    public int MaxTransfer { get; set; } = 1 << 20;

    public long Sent { get; private set; }

    public DmaResult DmaRead(object owner, ulong address, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int chunk = Math.Min(MaxTransfer, destination.Length - done);
            var r = Transfer(owner, VfioUserCommand.DmaRead, address + (ulong)done, chunk, default, destination.Slice(done, chunk));
            if (r != DmaResult.Ok)
            {
                return r;
            }

            done += chunk;
        }

        return DmaResult.Ok;
    }

    public DmaResult DmaWrite(object owner, ulong address, ReadOnlySpan<byte> source)
    {
        int done = 0;
        while (done < source.Length)
        {
            int chunk = Math.Min(MaxTransfer, source.Length - done);
            var r = Transfer(owner, VfioUserCommand.DmaWrite, address + (ulong)done, chunk, source.Slice(done, chunk), default);
            if (r != DmaResult.Ok)
            {
                return r;
            }

            done += chunk;
        }

        return DmaResult.Ok;
    }

    private DmaResult Transfer(object owner, VfioUserCommand command, ulong address, int count, ReadOnlySpan<byte> data, Span<byte> destination)
    {
        if (Environment.CurrentManagedThreadId == LoopThreadId)
        {
            LogLoopThreadDma(_logger, command);
            return DmaResult.TransportError;
        }

        bool isWrite = command == VfioUserCommand.DmaWrite;
        int size = DmaTransfer.MessageSize(count, isWrite);
        var message = ArrayPool<byte>.Shared.Rent(size);
        Pending p;
        lock (_pending)
        {
            if (_closed)
            {
                ArrayPool<byte>.Shared.Return(message);
                return DmaResult.TransportError;
            }

            p = _pool.Count > 0 ? _pool.Pop() : new Pending();
            ushort id;
            do
            {
                id = (ushort)Interlocked.Increment(ref _nextId);
            }
            while (_pending.ContainsKey(id));

            p.Arm(id, command, owner, isWrite ? 0 : count);
            _pending.Add(id, p);
        }

        try
        {
            var span = message.AsSpan(0, size);
            span.Clear();
            new MessageHeader(p.Id, command, (uint)size, VfioUserFlags.Command, 0).WriteTo(span);
            DmaTransfer.WriteHead(span[MessageHeader.Length..], address, count);
            if (isWrite)
            {
                data.CopyTo(span[DmaTransfer.DataOffset..]);
            }

            int err = _send(message.AsMemory(0, size));
            if (err != 0)
            {
                LogSendFailed(_logger, command, Interop.Errno.Name(-err));
                return DmaResult.TransportError;
            }

            Sent++;
            if (!p.Done.Wait(_timeout))
            {
                LogTimeout(_logger, command, p.Id, address, count);
                return DmaResult.TransportError;
            }

            if (p.Result == DmaResult.Ok && !isWrite)
            {
                p.Buffer.AsSpan(0, count).CopyTo(destination);
            }

            return p.Result;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(message);
            lock (_pending)
            {
                _pending.Remove(p.Id);
                p.Disarm();
                _pool.Push(p);
            }
        }
    }

    /// <summary>Socket thread: a reply arrived. False when no request is waiting for it.</summary>
    public bool Complete(in MessageHeader header, ReadOnlySpan<byte> payload)
    {
        lock (_pending)
        {
            if (!_pending.TryGetValue(header.Id, out var p) || p.Command != header.Command || p.Finished)
            {
                return false;
            }

            if (header.IsError)
            {
                LogClientError(_logger, header.Command, header.Id, Interop.Errno.Name((int)header.Error));
                p.Finish(DmaResult.TransportError);
                return true;
            }

            if (p.Command == VfioUserCommand.DmaRead)
            {
                if (_logger.IsEnabled(LogLevel.Trace))
                {
                    LogReplyBytes(_logger, header.Id, header.Size, Convert.ToHexString(payload[..Math.Min(payload.Length, 48)]));
                }

                int dataAt = DmaTransfer.DataOffset - MessageHeader.Length;
                if (payload.Length < dataAt + p.Count)
                {
                    LogShortReply(_logger, header.Id, payload.Length, dataAt + p.Count);
                    p.Finish(DmaResult.TransportError);
                    return true;
                }

                payload.Slice(dataAt, p.Count).CopyTo(p.Buffer);
            }

            p.Finish(DmaResult.Ok);
            return true;
        }
    }

    /// <summary>Fails the waiting requests of one mapping (it is being unmapped).</summary>
    public void Cancel(object owner)
    {
        lock (_pending)
        {
            foreach (var p in _pending.Values)
            {
                if (ReferenceEquals(p.Owner, owner))
                {
                    p.Finish(DmaResult.Unmapped);
                }
            }
        }
    }

    /// <summary>The client is gone: fail everything now and later.</summary>
    public void Close()
    {
        lock (_pending)
        {
            _closed = true;
            foreach (var p in _pending.Values)
            {
                p.Finish(DmaResult.TransportError);
            }
        }
    }

    [LoggerMessage(EventId = 1300, Level = LogLevel.Error, Message = "{Command} requested on the socket thread: refused (only that thread can read the reply)")]
    private static partial void LogLoopThreadDma(ILogger logger, VfioUserCommand command);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Warning, Message = "Sending {Command} to the client failed: {Error}")]
    private static partial void LogSendFailed(ILogger logger, VfioUserCommand command, string error);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "{Command} id {Id} (0x{Address:x}, {Count} B) got no reply in time")]
    private static partial void LogTimeout(ILogger logger, VfioUserCommand command, ushort id, ulong address, int count);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Warning, Message = "Client answered {Command} id {Id} with {Error}")]
    private static partial void LogClientError(ILogger logger, VfioUserCommand command, ushort id, string error);

    [LoggerMessage(EventId = 1304, Level = LogLevel.Warning, Message = "DMA_READ reply id {Id} carries {Length} payload bytes, expected at least {Expected}")]
    private static partial void LogShortReply(ILogger logger, ushort id, int length, int expected);

    [LoggerMessage(EventId = 1305, Level = LogLevel.Trace, Message = "DMA_READ reply id {Id}, {Size} B; payload starts {Hex}")]
    private static partial void LogReplyBytes(ILogger logger, ushort id, uint size, string hex);

    private sealed class Pending
    {
        public ManualResetEventSlim Done { get; } = new(false);

        public ushort Id { get; private set; }

        public VfioUserCommand Command { get; private set; }

        public object? Owner { get; private set; }

        public int Count { get; private set; }

        public byte[] Buffer { get; private set; } = [];

        public DmaResult Result { get; private set; }

        public bool Finished { get; private set; }

        public void Arm(ushort id, VfioUserCommand command, object owner, int readCount)
        {
            Id = id;
            Command = command;
            Owner = owner;
            Count = readCount;
            Buffer = readCount > 0 ? ArrayPool<byte>.Shared.Rent(readCount) : [];
            Finished = false;
            Result = DmaResult.TransportError;
            Done.Reset();
        }

        public void Finish(DmaResult result)
        {
            if (Finished)
            {
                return;
            }

            Finished = true;
            Result = result;
            Done.Set();
        }

        public void Disarm()
        {
            if (Buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(Buffer);
            }

            Buffer = [];
            Owner = null;
            Finished = true;
        }
    }
}
