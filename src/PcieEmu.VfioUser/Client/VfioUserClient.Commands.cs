using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>Typed commands. Each sends what QEMU 11.1 sends and checks the reply against notes §4.</summary>
public sealed partial class VfioUserClient
{
    // ------------------------------------------------------------------ VERSION

    /// <summary>VERSION with the configured major/minor/JSON (QEMU's 214-byte request by default).</summary>
    public VersionReply Negotiate() => Negotiate(_options.Major, _options.Minor, _options.VersionJson);

    /// <summary>
    /// VERSION with an explicit proposal. The reply must fit the request (QEMU's buffer is the request), carry the
    /// proposed major and a minor not above ours, and end its JSON with a NUL; with <see cref="VfioUserClientOptions.QemuStrict"/>
    /// the capability limits QEMU enforces are checked as well.
    /// </summary>
    public VersionReply Negotiate(ushort major, ushort minor, string? json)
    {
        int size = MessageHeader.Length + VersionMessage.Length(json);
        byte[] message = new byte[size];
        ushort id = _nextId++;
        new MessageHeader(id, VfioUserCommand.Version, (uint)size, VfioUserFlags.Command, 0).WriteTo(message);
        VersionMessage.Write(message.AsSpan(MessageHeader.Length), major, minor, json);
        SendCore(message, default, default, VfioUserCommand.Version, id);

        AwaitReply(id, VfioUserCommand.Version, 0, DeadlineAfter(null), out var h, out var p);
        ThrowIfError(h);
        if (h.Size > size)
        {
            throw Violation(h.Command, id, $"{h.Size} bytes, larger than the {size}-byte request (QEMU: \"reply larger than recv buffer\")");
        }

        if (!VersionMessage.TryRead(p, out ushort replyMajor, out ushort replyMinor, out var replyJson))
        {
            throw Violation(h.Command, id, $"payload of {p.Length} bytes has no major/minor");
        }

        if (replyMajor != major || replyMinor > minor)
        {
            throw Violation(h.Command, id, $"incompatible server version {replyMajor}.{replyMinor} (we proposed {major}.{minor})");
        }

        string? text = null;
        var caps = new VersionCapabilities();
        if (!replyJson.IsEmpty)
        {
            if (replyJson[^1] != 0)
            {
                throw Violation(h.Command, id, "corrupt version reply: the capabilities JSON does not end in a NUL byte");
            }

            int nul = replyJson.IndexOf((byte)0);
            text = Encoding.UTF8.GetString(replyJson[..nul]);
            if (!VersionCapabilities.TryParse(replyJson, out caps, out string? error))
            {
                throw Violation(h.Command, id, $"malformed capabilities: {error}");
            }

            if (_options.QemuStrict && text.Length > 0 && CheckQemuCapabilityLimits(text) is { } problem)
            {
                throw Violation(h.Command, id, problem);
            }
        }

        ServerCapabilities = caps;
        Negotiated = true;
        return new VersionReply(replyMajor, replyMinor, text, caps, (int)h.Size);
    }

    /// <summary>QEMU's caps_check rules (hw/vfio-user/proxy.c): null when the JSON passes.</summary>
    private static string? CheckQemuCapabilityLimits(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("capabilities", out var c))
            {
                return null;
            }

            foreach (var p in c.EnumerateObject())
            {
                string? problem = p.Name switch
                {
                    "max_msg_fds" => UInt(p.Value) is not { } v || v > 16 ? "malformed max_msg_fds (QEMU allows at most 16)" : null,
                    "max_data_xfer_size" => UInt(p.Value) is not { } v || v > 64 << 20 ? "malformed max_data_xfer_size (QEMU allows at most 64 MiB)" : null,
                    "pgsizes" => UInt(p.Value) is not { } v || (v & 4095) != 0 ? $"pgsizes {p.Value} too small (must be a multiple of 4096)" : null,
                    "max_dma_maps" => UInt(p.Value) is not { } v || v > 65535 ? "max_dma_maps too large (can only be lowered from 65535)" : null,
                    "write_multiple" => p.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False) ? "malformed write_multiple" : null,
                    "migration" => CheckMigration(p.Value),
                    _ => null, // QEMU warns "spurious capabilities" and carries on
                };
                if (problem is not null)
                {
                    return problem;
                }
            }

            return null;
        }
        catch (JsonException e)
        {
            return $"malformed capabilities: {e.Message}";
        }

        static ulong? UInt(JsonElement e) => e.ValueKind == JsonValueKind.Number && e.TryGetUInt64(out ulong v) ? v : null;

        static string? CheckMigration(JsonElement m)
        {
            if (m.ValueKind != JsonValueKind.Object)
            {
                return null; // QEMU reports it but does not fail
            }

            foreach (var p in m.EnumerateObject())
            {
                if (p.Name == "pgsize" && (UInt(p.Value) is not { } pg || (pg & 4095) != 0))
                {
                    return "migration pgsize too small";
                }

                if (p.Name == "max_bitmap_size" && (UInt(p.Value) is not { } bm || bm > 256 << 20))
                {
                    return "max_bitmap_size too large";
                }
            }

            return null;
        }
    }

    // ------------------------------------------------------------------ DMA_MAP / DMA_UNMAP

    /// <summary>
    /// DMA_MAP of [<paramref name="iova"/>, +<paramref name="size"/>): with <paramref name="fd"/> the server may mmap it
    /// at <paramref name="fdOffset"/>; without, it reaches the range only by DMA_READ/DMA_WRITE. Reply: the bare header.
    /// </summary>
    public void DmaMap(ulong iova, ulong size, DmaMapFlags flags, SafeHandle? fd = null, ulong fdOffset = 0)
    {
        const int size48 = MessageHeader.Length + DmaMapRequest.Length;
        ushort id = _nextId++;
        var m = _send.AsSpan(0, size48);
        new MessageHeader(id, VfioUserCommand.DmaMap, size48, VfioUserFlags.Command, 0).WriteTo(m);
        new DmaMapRequest(DmaMapRequest.Length, (uint)flags, fdOffset, iova, size).WriteTo(m[MessageHeader.Length..]);
        if (fd is null)
        {
            SendCore(m, default, default, VfioUserCommand.DmaMap, id);
        }
        else
        {
            SendCore(m, default, new[] { fd }, VfioUserCommand.DmaMap, id);
        }

        AwaitReply(id, VfioUserCommand.DmaMap, 0, DeadlineAfter(null), out var h, out _);
        ThrowIfError(h);
        if (h.Size != MessageHeader.Length)
        {
            throw Violation(h.Command, id, $"{h.Size} bytes; a DMA_MAP reply is the 16-byte header");
        }
    }

    /// <summary>DMA_UNMAP; the reply must echo the 24-byte request (40 bytes in all). Returns the echo.</summary>
    public DmaUnmapRequest DmaUnmap(ulong iova, ulong size, uint flags = 0)
    {
        const int size40 = MessageHeader.Length + DmaUnmapRequest.Length;
        ushort id = _nextId++;
        var m = _send.AsSpan(0, size40);
        var request = new DmaUnmapRequest(DmaUnmapRequest.Length, flags, iova, size);
        new MessageHeader(id, VfioUserCommand.DmaUnmap, size40, VfioUserFlags.Command, 0).WriteTo(m);
        request.WriteTo(m[MessageHeader.Length..]);
        SendCore(m, default, default, VfioUserCommand.DmaUnmap, id);

        AwaitReply(id, VfioUserCommand.DmaUnmap, 0, DeadlineAfter(null), out var h, out var p);
        ThrowIfError(h);
        if (h.Size != size40 || !DmaUnmapRequest.TryRead(p, out var echo))
        {
            throw Violation(h.Command, id, $"{h.Size} bytes; QEMU's buffer is 40 and the reply echoes the 24-byte request");
        }

        if (echo != request)
        {
            throw Violation(h.Command, id, $"echo {echo} differs from the request {request}");
        }

        return echo;
    }

    // ------------------------------------------------------------------ device, regions, IRQ info

    /// <summary>DEVICE_GET_INFO (argsz 16); the reply must be 32 bytes.</summary>
    public DeviceInfo GetDeviceInfo()
    {
        const int size32 = MessageHeader.Length + DeviceInfo.Length;
        ushort id = _nextId++;
        var m = _send.AsSpan(0, size32);
        new MessageHeader(id, VfioUserCommand.DeviceGetInfo, size32, VfioUserFlags.Command, 0).WriteTo(m);
        new DeviceInfo(DeviceInfo.Length, 0, 0, 0).WriteTo(m[MessageHeader.Length..]);
        SendCore(m, default, default, VfioUserCommand.DeviceGetInfo, id);

        AwaitReply(id, VfioUserCommand.DeviceGetInfo, 0, DeadlineAfter(null), out var h, out var p);
        ThrowIfError(h);
        if (h.Size != size32 || !DeviceInfo.TryRead(p, out var info))
        {
            throw Violation(h.Command, id, $"{h.Size} bytes; QEMU's buffer is 32");
        }

        if (info.Argsz < DeviceInfo.Length)
        {
            throw Violation(h.Command, id, $"argsz {info.Argsz} below {DeviceInfo.Length}");
        }

        if (_options.QemuStrict)
        {
            if ((info.Flags & VfioConstants.DeviceFlagsPci) == 0)
            {
                throw Violation(h.Command, id, $"flags 0x{info.Flags:x} lack PCI (0x2)");
            }

            if (info.NumRegions is < 8 or > 100 || info.NumIrqs is < 3 or > 50)
            {
                throw Violation(h.Command, id, $"{info.NumRegions} regions / {info.NumIrqs} IRQ types (QEMU needs 8..100 and 3..50)");
            }
        }

        return info;
    }

    /// <summary>
    /// DEVICE_GET_REGION_INFO as QEMU does it: first with argsz 32; if the reply asks for more (capabilities), once
    /// more with that argsz. Parses the capability chain (sparse mmap areas) and keeps the region fd.
    /// </summary>
    public RegionDetails GetRegionInfo(int index, uint firstArgsz = RegionInfo.Length)
    {
        uint argsz = firstArgsz;
        for (int attempt = 1; ; attempt++)
        {
            const int size48 = MessageHeader.Length + RegionInfo.Length;
            ushort id = _nextId++;
            var m = _send.AsSpan(0, size48);
            new MessageHeader(id, VfioUserCommand.DeviceGetRegionInfo, size48, VfioUserFlags.Command, 0).WriteTo(m);
            new RegionInfo(argsz, 0, (uint)index, 0, 0, 0).WriteTo(m[MessageHeader.Length..]);
            SendCore(m, default, default, VfioUserCommand.DeviceGetRegionInfo, id);

            AwaitReply(id, VfioUserCommand.DeviceGetRegionInfo, 1, DeadlineAfter(null), out var h, out var p);
            ThrowIfError(h);
            if (h.Size > MessageHeader.Length + argsz)
            {
                throw Violation(h.Command, id, $"{h.Size} bytes, larger than QEMU's 16 + argsz ({argsz}) buffer");
            }

            if (!RegionInfo.TryRead(p, out var info))
            {
                throw Violation(h.Command, id, $"payload of {p.Length} bytes is shorter than struct vfio_region_info");
            }

            if (info.Index != (uint)index)
            {
                throw Violation(h.Command, id, $"index {info.Index}, asked for {index}");
            }

            if (info.Argsz > argsz)
            {
                // Truncated: the capabilities did not fit. Ask again with the size the server needs.
                _fds.Release();
                if (attempt > 1 || info.Argsz > MaxRegionInfoArgsz)
                {
                    throw Violation(h.Command, id, $"needs argsz {info.Argsz} after we offered {argsz}");
                }

                argsz = info.Argsz;
                continue;
            }

            if (p.Length < info.Argsz)
            {
                throw Violation(h.Command, id, $"argsz {info.Argsz} but only {p.Length} payload bytes");
            }

            var areas = (info.Flags & VfioConstants.RegionInfoFlagCaps) != 0
                ? ParseCapabilities(h.Command, id, p[..(int)info.Argsz], info.CapOffset)
                : (IReadOnlyList<SparseArea>)[];
            var fd = _fds.Count == 1 ? _fds.Take(0) : null;
            _fds.Release();
            return new RegionDetails(info, areas, fd, attempt, (int)h.Size);
        }
    }

    private List<SparseArea> ParseCapabilities(VfioUserCommand command, ushort id, ReadOnlySpan<byte> info, uint capOffset)
    {
        var areas = new List<SparseArea>();
        uint at = capOffset;
        for (int hops = 0; at != 0; hops++)
        {
            if (hops >= 32)
            {
                throw Violation(command, id, "capability chain longer than 32 entries (a loop?)");
            }

            if (at < RegionInfo.Length || (ulong)at + 8 > (ulong)info.Length)
            {
                throw Violation(command, id, $"capability at 0x{at:x} lies outside the {info.Length}-byte region info");
            }

            var cap = info[(int)at..];
            ushort capId = BinaryPrimitives.ReadUInt16LittleEndian(cap);
            uint next = BinaryPrimitives.ReadUInt32LittleEndian(cap[4..]);
            if (capId == VfioConstants.RegionInfoCapSparseMmap)
            {
                if (cap.Length < SparseMmapCapability.HeaderLength)
                {
                    throw Violation(command, id, "sparse mmap capability truncated");
                }

                uint nr = BinaryPrimitives.ReadUInt32LittleEndian(cap[8..]);
                if ((ulong)SparseMmapCapability.HeaderLength + ((ulong)nr * SparseMmapCapability.AreaLength) > (ulong)cap.Length)
                {
                    throw Violation(command, id, $"sparse mmap capability declares {nr} areas; {cap.Length} bytes hold fewer");
                }

                for (int i = 0; i < (int)nr; i++)
                {
                    var a = cap[(SparseMmapCapability.HeaderLength + (i * SparseMmapCapability.AreaLength))..];
                    areas.Add(new SparseArea(BinaryPrimitives.ReadUInt64LittleEndian(a), BinaryPrimitives.ReadUInt64LittleEndian(a[8..])));
                }
            }

            if (next != 0 && next <= at)
            {
                throw Violation(command, id, $"capability chain goes backwards (0x{at:x} -> 0x{next:x})");
            }

            at = next;
        }

        return areas;
    }

    /// <summary>DEVICE_GET_IRQ_INFO; the reply must be 32 bytes and echo the index.</summary>
    public IrqInfo GetIrqInfo(int index)
    {
        const int size32 = MessageHeader.Length + IrqInfo.Length;
        ushort id = _nextId++;
        var m = _send.AsSpan(0, size32);
        new MessageHeader(id, VfioUserCommand.DeviceGetIrqInfo, size32, VfioUserFlags.Command, 0).WriteTo(m);
        new IrqInfo(IrqInfo.Length, 0, (uint)index, 0).WriteTo(m[MessageHeader.Length..]);
        SendCore(m, default, default, VfioUserCommand.DeviceGetIrqInfo, id);

        AwaitReply(id, VfioUserCommand.DeviceGetIrqInfo, 0, DeadlineAfter(null), out var h, out var p);
        ThrowIfError(h);
        if (h.Size != size32 || !IrqInfo.TryRead(p, out var info))
        {
            throw Violation(h.Command, id, $"{h.Size} bytes; QEMU's buffer is 32");
        }

        if (info.Index != (uint)index || info.Argsz < IrqInfo.Length)
        {
            throw Violation(h.Command, id, $"index {info.Index} / argsz {info.Argsz} for index {index}");
        }

        return info;
    }

    // ------------------------------------------------------------------ SET_IRQS

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
            SetIrqsCore(index, VfioConstants.IrqSetDataEventfd | (uint)action, start + done, n, default, eventFds.Slice(done, n));
            messages++;
        }

        return messages;
    }

    /// <summary>DATA_EVENTFD with no fds: de-assigns the vectors (QEMU's unplug sends ERR 0x24 count 1 without fd).</summary>
    public void DeassignIrqs(int index, int start, int count, IrqAction action = IrqAction.Trigger) =>
        SetIrqsCore(index, VfioConstants.IrqSetDataEventfd | (uint)action, start, count, default, default);

    /// <summary>DATA_NONE + action: mask/unmask/trigger vectors from the client side.</summary>
    public void SetIrqsNone(int index, IrqAction action, int start, int count) =>
        SetIrqsCore(index, VfioConstants.IrqSetDataNone | (uint)action, start, count, default, default);

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

        SetIrqsCore(index, VfioConstants.IrqSetDataBool | (uint)action, start, values.Length, data, default);
    }

    private void SetIrqsCore(int index, uint flags, int start, int count, ReadOnlySpan<byte> data, ReadOnlySpan<SafeHandle> fds)
    {
        int headSize = MessageHeader.Length + IrqSet.Length;
        ushort id = _nextId++;
        var m = _send.AsSpan(0, headSize);
        new MessageHeader(id, VfioUserCommand.DeviceSetIrqs, (uint)(headSize + data.Length), VfioUserFlags.Command, 0).WriteTo(m);
        new IrqSet((uint)(IrqSet.Length + data.Length), flags, (uint)index, (uint)start, (uint)count).WriteTo(m[MessageHeader.Length..]);
        SendCore(m, data, fds, VfioUserCommand.DeviceSetIrqs, id);

        AwaitReply(id, VfioUserCommand.DeviceSetIrqs, 0, DeadlineAfter(null), out var h, out _);
        ThrowIfError(h);
        if (h.Size != MessageHeader.Length)
        {
            throw Violation(h.Command, id, $"{h.Size} bytes; a SET_IRQS reply is the 16-byte header");
        }
    }

    // ------------------------------------------------------------------ region access (hot path)

    /// <summary>
    /// REGION_READ of <paramref name="destination"/>.Length bytes. Returns the count the server returned (≤ requested).
    /// Allocates nothing; one sendmsg and (normally) one recvmsg.
    /// </summary>
    public int RegionRead(int region, ulong offset, Span<byte> destination)
    {
        int count = destination.Length;
        if (count < 1 || count > MaxRegionTransfer)
        {
            throw new ArgumentOutOfRangeException(nameof(destination), count, $"REGION_READ count must be 1..{MaxRegionTransfer}");
        }

        const int size32 = MessageHeader.Length + RegionAccess.Length;
        ushort id = _nextId++;
        var m = _send.AsSpan(0, size32);
        new MessageHeader(id, VfioUserCommand.RegionRead, size32, VfioUserFlags.Command, 0).WriteTo(m);
        new RegionAccess(offset, (uint)region, (uint)count).WriteTo(m[MessageHeader.Length..]);
        SendCore(m, default, default, VfioUserCommand.RegionRead, id);

        AwaitReply(id, VfioUserCommand.RegionRead, 0, DeadlineAfter(null), out var h, out var p);
        ThrowIfError(h);
        if (!RegionAccess.TryRead(p, out var echo) || echo.Offset != offset || echo.Region != (uint)region
            || echo.Count > (uint)count || p.Length != RegionAccess.Length + (int)echo.Count)
        {
            throw Violation(h.Command, id, $"{h.Size} bytes do not echo offset 0x{offset:x}, region {region} and count ≤ {count} followed by the data");
        }

        p.Slice(RegionAccess.Length, (int)echo.Count).CopyTo(destination);
        return (int)echo.Count;
    }

    /// <summary>
    /// REGION_WRITE. Posted (NO_REPLY, as QEMU sends guest MMIO writes): nothing comes back, not even an error.
    /// Otherwise the 32-byte reply must echo offset, region and count. Data goes out as the second iovec (no copy).
    /// </summary>
    public void RegionWrite(int region, ulong offset, ReadOnlySpan<byte> data, bool posted = false)
    {
        int count = data.Length;
        if (count < 1 || count > MaxRegionTransfer)
        {
            throw new ArgumentOutOfRangeException(nameof(data), count, $"REGION_WRITE count must be 1..{MaxRegionTransfer}");
        }

        const int size32 = MessageHeader.Length + RegionAccess.Length;
        ushort id = _nextId++;
        var m = _send.AsSpan(0, size32);
        var flags = posted ? VfioUserFlags.Command | VfioUserFlags.NoReply : VfioUserFlags.Command;
        new MessageHeader(id, VfioUserCommand.RegionWrite, (uint)(size32 + count), flags, 0).WriteTo(m);
        new RegionAccess(offset, (uint)region, (uint)count).WriteTo(m[MessageHeader.Length..]);
        SendCore(m, data, default, VfioUserCommand.RegionWrite, id);
        if (posted)
        {
            return;
        }

        AwaitReply(id, VfioUserCommand.RegionWrite, 0, DeadlineAfter(null), out var h, out var p);
        ThrowIfError(h);
        if (h.Size != size32 || !RegionAccess.TryRead(p, out var echo) || echo != new RegionAccess(offset, (uint)region, (uint)count))
        {
            throw Violation(h.Command, id, $"{h.Size} bytes; the reply is 32 bytes echoing offset 0x{offset:x}, region {region}, count {count}");
        }
    }

    /// <summary>REGION_WRITE_MULTI (always posted; QEMU sends it only after the server advertised write_multiple).</summary>
    public void RegionWriteMulti(ReadOnlySpan<RegionWriteMultiEntry> entries)
    {
        if (entries.Length is < 1 or > RegionWriteMultiEntry.MaxEntries)
        {
            throw new ArgumentOutOfRangeException(nameof(entries), entries.Length, $"1..{RegionWriteMultiEntry.MaxEntries} entries");
        }

        int payload = 8 + (entries.Length * RegionWriteMultiEntry.Length);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(payload);
        try
        {
            var p = buffer.AsSpan(0, payload);
            BinaryPrimitives.WriteUInt64LittleEndian(p, (ulong)entries.Length);
            for (int i = 0; i < entries.Length; i++)
            {
                entries[i].WriteTo(p[(8 + (i * RegionWriteMultiEntry.Length))..]);
            }

            Send(VfioUserCommand.RegionWriteMulti, p, default, VfioUserFlags.Command | VfioUserFlags.NoReply);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The largest REGION_READ/WRITE count: the server's max_data_xfer_size, capped by our buffer.</summary>
    public int MaxRegionTransfer => (int)Math.Min(ServerCapabilities.MaxDataTransferSize, MaxDataTransferSize);

    public byte ReadUInt8(int region, ulong offset)
    {
        Span<byte> b = stackalloc byte[1];
        ReadExactly(region, offset, b);
        return b[0];
    }

    public ushort ReadUInt16(int region, ulong offset)
    {
        Span<byte> b = stackalloc byte[2];
        ReadExactly(region, offset, b);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    public uint ReadUInt32(int region, ulong offset)
    {
        Span<byte> b = stackalloc byte[4];
        ReadExactly(region, offset, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public ulong ReadUInt64(int region, ulong offset)
    {
        Span<byte> b = stackalloc byte[8];
        ReadExactly(region, offset, b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    public void WriteUInt8(int region, ulong offset, byte value, bool posted = false) =>
        RegionWrite(region, offset, [value], posted);

    public void WriteUInt16(int region, ulong offset, ushort value, bool posted = false)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        RegionWrite(region, offset, b, posted);
    }

    public void WriteUInt32(int region, ulong offset, uint value, bool posted = false)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        RegionWrite(region, offset, b, posted);
    }

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

    // ------------------------------------------------------------------ reset

    /// <summary>DEVICE_RESET; the reply is the 16-byte header, sent once the device is back at power-on state.</summary>
    public void DeviceReset()
    {
        ushort id = _nextId++;
        var m = _send.AsSpan(0, MessageHeader.Length);
        new MessageHeader(id, VfioUserCommand.DeviceReset, MessageHeader.Length, VfioUserFlags.Command, 0).WriteTo(m);
        SendCore(m, default, default, VfioUserCommand.DeviceReset, id);

        AwaitReply(id, VfioUserCommand.DeviceReset, 0, DeadlineAfter(null), out var h, out _);
        ThrowIfError(h);
        if (h.Size != MessageHeader.Length)
        {
            throw Violation(h.Command, id, $"{h.Size} bytes; a DEVICE_RESET reply is the 16-byte header");
        }
    }
}
