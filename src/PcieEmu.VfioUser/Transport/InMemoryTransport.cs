using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;

namespace PcieEmu.VfioUser.Transport;

/// <summary>
/// Two connected in-process endpoints, for tests of a server or client without a socket (pass one end to a
/// <see cref="Server.VfioUserConnection"/>, the other to a client). Each Send is one chunk; fds are duplicated so each
/// side owns its own. Like the kernel, a receive never runs past a chunk that carried fds. Thread-safe.
/// </summary>
public sealed class InMemoryTransport : IMessageTransport
{
    private readonly Pipe _inbound;
    private readonly Pipe _outbound;

    private InMemoryTransport(Pipe inbound, Pipe outbound, string description)
    {
        _inbound = inbound;
        _outbound = outbound;
        Description = description;
    }

    /// <summary>"in-memory(server)" or "in-memory(client)".</summary>
    public string Description { get; }

    /// <summary>A connected pair: what one end sends, the other receives.</summary>
    public static (InMemoryTransport Server, InMemoryTransport Client) CreatePair()
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        return (new InMemoryTransport(toServer, toClient, "in-memory(server)"), new InMemoryTransport(toClient, toServer, "in-memory(client)"));
    }

    /// <inheritdoc/>
    /// <remarks>Never reports truncated fds: every fd sent arrives.</remarks>
    public int Receive(Span<byte> buffer, List<SafeFileHandle> fds, out bool fdsTruncated)
    {
        fdsTruncated = false;
        return _inbound.Read(buffer, fds);
    }

    /// <inheritdoc/>
    /// <remarks>-EPIPE once either end has shut down. Throws <see cref="IOException"/> when an fd cannot be duplicated.</remarks>
    public int Send(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, ReadOnlySpan<SafeHandle> fds)
    {
        var copies = new List<SafeFileHandle>(fds.Length);
        foreach (var fd in fds)
        {
            copies.Add(FileDescriptors.Duplicate(fd));
        }

        return _outbound.Write([.. head, .. tail], copies);
    }

    /// <summary>Closes both directions for both ends: pending and future receives on either end see end of stream once what was sent is read.</summary>
    public void Shutdown()
    {
        _inbound.Close();
        _outbound.Close();
    }

    /// <summary>The same as <see cref="Shutdown"/>; fds still queued for a receiver stay open until their chunk is read.</summary>
    public void Dispose() => Shutdown();

    private sealed class Pipe
    {
        private readonly Queue<Chunk> _chunks = new();
        private bool _closed;

        public int Write(byte[] data, List<SafeFileHandle> fds)
        {
            lock (_chunks)
            {
                if (_closed)
                {
                    fds.ForEach(f => f.Dispose());
                    return -Errno.EPIPE;
                }

                _chunks.Enqueue(new Chunk(data, fds));
                Monitor.PulseAll(_chunks);
                return 0;
            }
        }

        public int Read(Span<byte> buffer, List<SafeFileHandle> fds)
        {
            lock (_chunks)
            {
                while (_chunks.Count == 0 && !_closed)
                {
                    Monitor.Wait(_chunks);
                }

                if (_chunks.Count == 0)
                {
                    return 0;
                }

                var chunk = _chunks.Peek();
                int n = Math.Min(buffer.Length, chunk.Data.Length - chunk.Position);
                chunk.Data.AsSpan(chunk.Position, n).CopyTo(buffer);
                chunk.Position += n;
                fds.AddRange(chunk.Fds);
                chunk.Fds.Clear();
                if (chunk.Position == chunk.Data.Length)
                {
                    _chunks.Dequeue();
                }

                return n;
            }
        }

        public void Close()
        {
            lock (_chunks)
            {
                _closed = true;
                Monitor.PulseAll(_chunks);
            }
        }

        private sealed class Chunk(byte[] data, List<SafeFileHandle> fds)
        {
            public byte[] Data { get; } = data;

            public List<SafeFileHandle> Fds { get; } = fds;

            public int Position { get; set; }
        }
    }
}
