using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Transport;

namespace PcieEmu.VfioUser.Client;

/// <summary>
/// A vfio-user client over any <see cref="IMessageTransport"/>: it plays QEMU's part against a server (ours or
/// libvfio-user's). Typed commands validate every reply (type, id, command, flags, size, echoed fields, fds) and
/// throw <see cref="VfioUserErrorException"/> for an errno reply (the connection stays usable), or
/// <see cref="VfioUserProtocolException"/> / <see cref="TimeoutException"/> when the server broke the protocol or
/// went silent (the client is unusable afterwards). Every wait is bounded by <see cref="VfioUserClientOptions.ReplyTimeout"/>.
/// <para>
/// This type is the public face; the work is done by small parts: <see cref="ClientChannel"/> (message I/O, reply
/// matching, timeouts), <see cref="VersionNegotiation"/>, <see cref="DeviceCommands"/> (DMA, info, IRQs, reset),
/// <see cref="RegionCommands"/> (the allocation-free REGION_READ/WRITE path) and <see cref="ServerRequestResponder"/>
/// (server→client DMA_READ/DMA_WRITE, answered from <see cref="VfioUserClientOptions.GuestMemory"/> inline while a reply
/// is awaited, or on demand with <see cref="ServeServerRequests"/>). A raw API
/// (<see cref="Send(VfioUserCommand, ReadOnlySpan{byte}, ReadOnlySpan{SafeHandle}, VfioUserFlags)"/>,
/// <see cref="SendRaw"/>, <see cref="Receive"/>, <see cref="TryReceive"/>) exists for conformance tests.
/// </para>
/// Not thread-safe: use it from one thread at a time.
/// </summary>
public sealed class VfioUserClient : IDisposable
{
    private readonly ClientChannel _channel;
    private readonly VfioUserClientOptions _options;
    private readonly ServerRequestResponder _responder;
    private readonly DeviceCommands _device;
    private readonly RegionCommands _regions;

    /// <summary>
    /// A client over <paramref name="transport"/>, which it owns from now on (<see cref="Dispose"/> disposes it).
    /// Nothing is sent yet: call <see cref="Negotiate()"/> first, as QEMU does. Throws
    /// <see cref="ArgumentOutOfRangeException"/> for a ReplyTimeout that is not positive or exceeds int.MaxValue ms,
    /// and <see cref="ArgumentException"/> when <see cref="VfioUserClientOptions.VersionJson"/> is malformed.
    /// </summary>
    public VfioUserClient(IMessageTransport transport, VfioUserClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _options = options ?? new VfioUserClientOptions();
        if (_options.ReplyTimeout <= TimeSpan.Zero || _options.ReplyTimeout.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "ReplyTimeout must be positive");
        }

        var logger = _options.Logger ?? NullLogger.Instance;
        OwnCapabilities = VersionNegotiation.ParseOwnCapabilities(_options.VersionJson);
        MaxDataTransferSize = (int)Math.Min(OwnCapabilities.MaxDataTransferSize, 64L << 20);
        _channel = new ClientChannel(transport, MaxDataTransferSize + ClientChannel.HeadRoom, OwnCapabilities.MaxMsgFds, _options.ReplyTimeout,
            _options.ServeServerRequestsWhileWaiting, logger);
        _responder = new ServerRequestResponder(_channel, _options, MaxDataTransferSize, logger);
        _channel.RequestHandler = _responder;
        _device = new DeviceCommands(_channel, _options.QemuStrict);
        _regions = new RegionCommands(_channel);
    }

    /// <summary>What this client declared in VERSION (parsed from <see cref="VfioUserClientOptions.VersionJson"/>).</summary>
    public VersionCapabilities OwnCapabilities { get; }

    /// <summary>The largest DMA_READ/DMA_WRITE count this client accepts (its declared max_data_xfer_size).</summary>
    public int MaxDataTransferSize { get; }

    /// <summary>What the server declared in its VERSION reply (spec defaults until then).</summary>
    public VersionCapabilities ServerCapabilities { get; private set; } = new();

    /// <summary>Whether a VERSION exchange succeeded (<see cref="ServerCapabilities"/> then holds the server's answer).</summary>
    public bool Negotiated { get; private set; }

    /// <summary>The transport's description ("unix:/tmp/card.sock(client)"); exception messages start with it.</summary>
    public string Description => _channel.Description;

    /// <summary>The options the client was made with.</summary>
    public VfioUserClientOptions Options => _options;

    /// <summary>Requests this client sent (raw ones included).</summary>
    public long RequestsSent => _channel.RequestsSent;

    /// <summary>Server→client requests answered (successfully or with an errno).</summary>
    public long ServerRequestsServed => _responder.Served;

    /// <summary>Server→client DMA_READ requests answered successfully.</summary>
    public long DmaReadsServed => _responder.DmaReadsServed;

    /// <summary>Server→client DMA_WRITE requests answered successfully.</summary>
    public long DmaWritesServed => _responder.DmaWritesServed;

    /// <summary>Why the client became unusable, or null.</summary>
    public string? BrokenReason => _channel.BrokenReason;

    /// <summary>The id the next request will carry (ids count up from 0 and wrap, like QEMU's).</summary>
    public ushort NextId => _channel.NextId;

    /// <summary>The largest REGION_READ/WRITE count: the server's max_data_xfer_size, capped by our buffer.</summary>
    public int MaxRegionTransfer => (int)Math.Min(ServerCapabilities.MaxDataTransferSize, MaxDataTransferSize);

    /// <summary>
    /// Connects to a server listening on <paramref name="socketPath"/>. Throws <see cref="IOException"/> when the path is
    /// too long for a UNIX socket and <see cref="SocketException"/> when nobody listens there.
    /// </summary>
    public static VfioUserClient Connect(string socketPath, VfioUserClientOptions? options = null)
    {
        UnixSocketPath.ThrowIfTooLong(socketPath);
        Socket? socket = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            var client = FromSocket(socket, options, $"unix:{socketPath}(client)");
            socket = null; // the client's now
            return client;
        }
        finally
        {
            socket?.Dispose();
        }
    }

    /// <summary>Wraps a connected AF_UNIX stream socket (for example one end of a socketpair). Takes ownership.</summary>
    public static VfioUserClient FromSocket(Socket socket, VfioUserClientOptions? options = null, string? description = null)
    {
        options ??= new VfioUserClientOptions();
        int maxFds = Math.Clamp(VersionNegotiation.ParseOwnCapabilities(options.VersionJson).MaxMsgFds, 1, 253);
        var transport = new UnixSocketTransport(socket, maxFds, description ?? "unix(client)");
        try
        {
            return new VfioUserClient(transport, options);
        }
        catch
        {
            transport.Dispose();
            throw;
        }
    }

    // ------------------------------------------------------------------ raw API

    /// <summary>
    /// Sends one request with a fresh id: a header (size = 16 + payload) and the payload, fds attached, in one
    /// sendmsg. Returns the id. Nothing is validated: this is the conformance tests' tool.
    /// </summary>
    public ushort Send(VfioUserCommand command, ReadOnlySpan<byte> payload, ReadOnlySpan<SafeHandle> fds = default,
        VfioUserFlags flags = VfioUserFlags.Command)
    {
        ushort id = _channel.TakeId();
        Span<byte> head = stackalloc byte[MessageHeader.Length];
        new MessageHeader(id, command, (uint)(MessageHeader.Length + payload.Length), flags, 0).WriteTo(head);
        _channel.Send(head, payload, fds, command, id);
        return id;
    }

    /// <summary>Sends arbitrary bytes (a hand-made header included) with <paramref name="fds"/> in one sendmsg.</summary>
    public void SendRaw(ReadOnlySpan<byte> message, ReadOnlySpan<SafeHandle> fds = default)
    {
        var command = message.Length >= 4 ? (VfioUserCommand)(message[2] | (message[3] << 8)) : 0;
        _channel.Send(message, default, fds, command, 0);
    }

    /// <summary>The next message from the server, whatever it is (nothing is answered or validated). Throws at end of stream.</summary>
    public VfioUserMessage Receive(TimeSpan? timeout = null) =>
        TryReceive(out var message, timeout) ? message : throw _channel.Broken(new VfioUserProtocolException($"{Description}: the server closed the connection"));

    /// <summary>Like <see cref="Receive"/>, but returns false when the server closed the connection cleanly between messages.</summary>
    public bool TryReceive([NotNullWhen(true)] out VfioUserMessage? message, TimeSpan? timeout = null)
    {
        message = null;
        if (!_channel.ReadNext(_channel.DeadlineAfter(timeout), "any message", out var header, out var payload, endOfStreamIsError: false))
        {
            return false;
        }

        message = _channel.Capture(header, payload);
        return true;
    }

    /// <summary>
    /// Waits for the reply to request (<paramref name="id"/>, <paramref name="command"/>), answering server requests that
    /// arrive first. The reply's type, id and command are checked; an errno reply is returned, not thrown.
    /// </summary>
    public VfioUserMessage ReceiveReply(ushort id, VfioUserCommand command, TimeSpan? timeout = null)
    {
        _channel.AwaitReply(id, command, int.MaxValue, _channel.DeadlineAfter(timeout), out var header, out var payload, checkFlags: false);
        return _channel.Capture(header, payload);
    }

    /// <summary>Send + <see cref="ReceiveReply"/>.</summary>
    public VfioUserMessage Call(VfioUserCommand command, ReadOnlySpan<byte> payload, ReadOnlySpan<SafeHandle> fds = default,
        VfioUserFlags flags = VfioUserFlags.Command, TimeSpan? timeout = null)
    {
        ushort id = Send(command, payload, fds, flags);
        return ReceiveReply(id, command, timeout);
    }

    /// <summary>
    /// Waits for <paramref name="count"/> server→client requests and answers each (DMA_READ/DMA_WRITE from guest
    /// memory, anything else ENOSYS). A reply arriving meanwhile is a protocol error (nothing is outstanding).
    /// </summary>
    public int ServeServerRequests(int count, TimeSpan? timeout = null)
    {
        long deadline = _channel.DeadlineAfter(timeout);
        for (int i = 0; i < count; i++)
        {
            _channel.ReadNext(deadline, "a server request", out var header, out var payload, endOfStreamIsError: true);
            if (header.Type != VfioUserFlags.Command)
            {
                throw _channel.Broken(new VfioUserProtocolException(
                    $"{Description}: unexpected {header.Command} reply id {header.Id} (flags 0x{(uint)header.Flags:x}) while no request was outstanding"));
            }

            _responder.Serve(header, payload, _channel.Fds.Count);
        }

        return count;
    }

    /// <summary>Answers a server request obtained through <see cref="Receive"/> (its fds, if any, make it EINVAL).</summary>
    public void AnswerServerRequest(VfioUserMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Header.Type != VfioUserFlags.Command)
        {
            throw new ArgumentException($"{request} is not a request", nameof(request));
        }

        _responder.Serve(request.Header, request.Payload, request.FdCount);
    }

    // ------------------------------------------------------------------ typed commands

    /// <summary>VERSION with the configured major/minor/JSON (QEMU's 214-byte request by default).</summary>
    public VersionReply Negotiate() => Negotiate(_options.Major, _options.Minor, _options.VersionJson);

    /// <summary>
    /// VERSION with an explicit proposal. The reply must fit the request (QEMU's buffer is the request), carry the
    /// proposed major and a minor not above ours, and end its JSON with a NUL; with <see cref="VfioUserClientOptions.QemuStrict"/>
    /// the capability limits QEMU enforces are checked as well.
    /// </summary>
    public VersionReply Negotiate(ushort major, ushort minor, string? json)
    {
        var reply = VersionNegotiation.Negotiate(_channel, _options.QemuStrict, major, minor, json);
        ServerCapabilities = reply.Capabilities;
        Negotiated = true;
        return reply;
    }

    /// <summary>
    /// DMA_MAP of [<paramref name="iova"/>, +<paramref name="size"/>): with <paramref name="fd"/> the server may mmap it
    /// at <paramref name="fdOffset"/>; without, it reaches the range only by DMA_READ/DMA_WRITE. Reply: the bare header.
    /// </summary>
    public void DmaMap(ulong iova, ulong size, DmaMapFlags flags, SafeHandle? fd = null, ulong fdOffset = 0) =>
        _device.DmaMap(iova, size, flags, fd, fdOffset);

    /// <summary>DMA_UNMAP; the reply must echo the 24-byte request (40 bytes in all). Returns the echo.</summary>
    public DmaUnmapRequest DmaUnmap(ulong iova, ulong size, uint flags = 0) => _device.DmaUnmap(iova, size, flags);

    /// <summary>DEVICE_GET_INFO (argsz 16); the reply must be 32 bytes.</summary>
    public DeviceInfo GetDeviceInfo() => _device.GetDeviceInfo();

    /// <summary>
    /// DEVICE_GET_REGION_INFO as QEMU does it: first with argsz 32; if the reply asks for more (capabilities), once
    /// more with that argsz. Parses the capability chain (sparse mmap areas) and keeps the region fd.
    /// </summary>
    public RegionDetails GetRegionInfo(int index, uint firstArgsz = RegionInfo.Length) => _device.GetRegionInfo(index, firstArgsz);

    /// <summary>DEVICE_GET_IRQ_INFO; the reply must be 32 bytes and echo the index.</summary>
    public IrqInfo GetIrqInfo(int index) => _device.GetIrqInfo(index);

    /// <summary>
    /// Wires eventfds to vectors [<paramref name="start"/>, +n) of IRQ <paramref name="index"/> (DATA_EVENTFD +
    /// <paramref name="action"/>), split into messages of at most the server's max_msg_fds fds, as QEMU does.
    /// </summary>
    public int SetIrqEventFds(int index, int start, ReadOnlySpan<SafeHandle> eventFds, IrqAction action = IrqAction.Trigger)
    {
        if (eventFds.IsEmpty)
        {
            throw new ArgumentException("no eventfds: use DeassignIrqs to de-assign", nameof(eventFds));
        }

        int chunk = Math.Max(1, ServerCapabilities.MaxMsgFds);
        int messages = 0;
        for (int done = 0; done < eventFds.Length; done += chunk)
        {
            int n = Math.Min(chunk, eventFds.Length - done);
            _device.SetIrqs(index, VfioConstants.IrqSetDataEventfd | (uint)action, start + done, n, default, eventFds.Slice(done, n));
            messages++;
        }

        return messages;
    }

    /// <summary>DATA_EVENTFD with no fds: de-assigns the vectors (QEMU's unplug sends ERR 0x24 count 1 without fd).</summary>
    public void DeassignIrqs(int index, int start, int count, IrqAction action = IrqAction.Trigger) =>
        _device.SetIrqs(index, VfioConstants.IrqSetDataEventfd | (uint)action, start, count, default, default);

    /// <summary>DATA_NONE + action: mask/unmask/trigger vectors from the client side.</summary>
    public void SetIrqsNone(int index, IrqAction action, int start, int count) =>
        _device.SetIrqs(index, VfioConstants.IrqSetDataNone | (uint)action, start, count, default, default);

    /// <summary>"count 0 + DATA_NONE + TRIGGER": disables every vector of the index (QEMU's INTx 0x21 before reset).</summary>
    public void DisableIrqs(int index) => SetIrqsNone(index, IrqAction.Trigger, 0, 0);

    /// <summary>DATA_BOOL + action: one byte per vector selects which vectors the action applies to.</summary>
    public void SetIrqsBool(int index, IrqAction action, int start, ReadOnlySpan<bool> values)
    {
        Span<byte> data = values.Length <= 256 ? stackalloc byte[values.Length] : new byte[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            data[i] = values[i] ? (byte)1 : (byte)0;
        }

        _device.SetIrqs(index, VfioConstants.IrqSetDataBool | (uint)action, start, values.Length, data, default);
    }

    /// <summary>DEVICE_RESET; the reply is the 16-byte header, sent once the device is back at power-on state.</summary>
    public void DeviceReset() => _device.DeviceReset();

    // ------------------------------------------------------------------ region access (hot path)

    /// <summary>
    /// REGION_READ of <paramref name="destination"/>.Length bytes. Returns the count the server returned (≤ requested).
    /// Allocates nothing; one sendmsg and (normally) one recvmsg.
    /// </summary>
    public int RegionRead(int region, ulong offset, Span<byte> destination)
    {
        if (destination.Length < 1 || destination.Length > MaxRegionTransfer)
        {
            throw new ArgumentOutOfRangeException(nameof(destination), destination.Length, $"REGION_READ count must be 1..{MaxRegionTransfer}");
        }

        return _regions.Read(region, offset, destination);
    }

    /// <summary>
    /// REGION_WRITE. Posted (NO_REPLY, as QEMU sends guest MMIO writes): nothing comes back, not even an error.
    /// Otherwise the 32-byte reply must echo offset, region and count. Data goes out as the second iovec (no copy).
    /// </summary>
    public void RegionWrite(int region, ulong offset, ReadOnlySpan<byte> data, bool posted = false)
    {
        if (data.Length < 1 || data.Length > MaxRegionTransfer)
        {
            throw new ArgumentOutOfRangeException(nameof(data), data.Length, $"REGION_WRITE count must be 1..{MaxRegionTransfer}");
        }

        _regions.Write(region, offset, data, posted);
    }

    /// <summary>REGION_WRITE_MULTI (always posted; QEMU sends it only after the server advertised write_multiple).</summary>
    public void RegionWriteMulti(ReadOnlySpan<RegionWriteMultiEntry> entries)
    {
        if (entries.Length is < 1 or > RegionWriteMultiEntry.MaxEntries)
        {
            throw new ArgumentOutOfRangeException(nameof(entries), entries.Length, $"1..{RegionWriteMultiEntry.MaxEntries} entries");
        }

        _regions.WriteMulti(entries);
    }

    /// <summary>
    /// Reads one byte of <paramref name="region"/> at <paramref name="offset"/>. These typed reads throw
    /// <see cref="VfioUserProtocolException"/> when the server returns fewer bytes than asked; numbers are little-endian.
    /// </summary>
    public byte ReadUInt8(int region, ulong offset)
    {
        Span<byte> b = stackalloc byte[1];
        ReadExactly(region, offset, b);
        return b[0];
    }

    /// <summary>Reads a little-endian 16-bit value (one 2-byte REGION_READ); see <see cref="ReadUInt8"/>.</summary>
    public ushort ReadUInt16(int region, ulong offset)
    {
        Span<byte> b = stackalloc byte[2];
        ReadExactly(region, offset, b);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    /// <summary>Reads a little-endian 32-bit value (one 4-byte REGION_READ); see <see cref="ReadUInt8"/>.</summary>
    public uint ReadUInt32(int region, ulong offset)
    {
        Span<byte> b = stackalloc byte[4];
        ReadExactly(region, offset, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    /// <summary>Reads a little-endian 64-bit value (one 8-byte REGION_READ); see <see cref="ReadUInt8"/>.</summary>
    public ulong ReadUInt64(int region, ulong offset)
    {
        Span<byte> b = stackalloc byte[8];
        ReadExactly(region, offset, b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    /// <summary>Writes one byte (one REGION_WRITE); <paramref name="posted"/> as in <see cref="RegionWrite"/>.</summary>
    public void WriteUInt8(int region, ulong offset, byte value, bool posted = false) =>
        RegionWrite(region, offset, [value], posted);

    /// <summary>Writes a 16-bit value, little-endian, in one 2-byte REGION_WRITE; <paramref name="posted"/> as in <see cref="RegionWrite"/>.</summary>
    public void WriteUInt16(int region, ulong offset, ushort value, bool posted = false)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        RegionWrite(region, offset, b, posted);
    }

    /// <summary>Writes a 32-bit value, little-endian, in one 4-byte REGION_WRITE; <paramref name="posted"/> as in <see cref="RegionWrite"/>.</summary>
    public void WriteUInt32(int region, ulong offset, uint value, bool posted = false)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        RegionWrite(region, offset, b, posted);
    }

    /// <summary>Writes a 64-bit value, little-endian, in one 8-byte REGION_WRITE; <paramref name="posted"/> as in <see cref="RegionWrite"/>.</summary>
    public void WriteUInt64(int region, ulong offset, ulong value, bool posted = false)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        RegionWrite(region, offset, b, posted);
    }

    private void ReadExactly(int region, ulong offset, Span<byte> destination)
    {
        int n = RegionRead(region, offset, destination);
        if (n != destination.Length)
        {
            throw new VfioUserProtocolException($"{Description}: REGION_READ of {destination.Length} bytes at region {region}+0x{offset:x} returned {n}");
        }
    }

    /// <summary>Closes the connection (the server sees its client leave) and every fd the client still holds.</summary>
    public void Dispose() => _channel.Dispose();
}
