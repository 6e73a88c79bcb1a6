using System.Buffers.Binary;
using System.Runtime.InteropServices;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>
/// The typed control commands: DMA_MAP/UNMAP, DEVICE_GET_INFO, GET_REGION_INFO (with QEMU's argsz retry and the
/// capability chain), GET_IRQ_INFO, SET_IRQS and DEVICE_RESET. Each sends what QEMU 11.1 sends and checks the reply
/// against the reply-size rules of qemu-vfio-user-client.md §4; fixed-size requests are built in the channel's
/// pinned buffer.
/// </summary>
internal sealed class DeviceCommands(ClientChannel channel, bool qemuStrict)
{
    /// <summary>Largest argsz the client follows in a GET_REGION_INFO retry (a defence against a hostile server).</summary>
    private const uint MaxRegionInfoArgsz = 64 * 1024;

    public void DmaMap(ulong iova, ulong size, DmaMapFlags flags, SafeHandle? fd, ulong fdOffset)
    {
        const int size48 = MessageHeader.Length + DmaMapRequest.Length;
        ushort id = channel.TakeId();
        var m = channel.SendBuffer.AsSpan(0, size48);
        new MessageHeader(id, VfioUserCommand.DmaMap, size48, VfioUserFlags.Command, 0).WriteTo(m);
        new DmaMapRequest(DmaMapRequest.Length, (uint)flags, fdOffset, iova, size).WriteTo(m[MessageHeader.Length..]);
        if (fd is null)
        {
            channel.Send(m, default, default, VfioUserCommand.DmaMap, id);
        }
        else
        {
            channel.Send(m, default, new[] { fd }, VfioUserCommand.DmaMap, id);
        }

        var h = AwaitBareReply(id, VfioUserCommand.DmaMap);
        if (h.Size != MessageHeader.Length)
        {
            throw channel.Violation(h.Command, id, $"{h.Size} bytes; a DMA_MAP reply is the 16-byte header");
        }
    }

    public DmaUnmapRequest DmaUnmap(ulong iova, ulong size, uint flags)
    {
        const int size40 = MessageHeader.Length + DmaUnmapRequest.Length;
        ushort id = channel.TakeId();
        var m = channel.SendBuffer.AsSpan(0, size40);
        var request = new DmaUnmapRequest(DmaUnmapRequest.Length, flags, iova, size);
        new MessageHeader(id, VfioUserCommand.DmaUnmap, size40, VfioUserFlags.Command, 0).WriteTo(m);
        request.WriteTo(m[MessageHeader.Length..]);
        channel.Send(m, default, default, VfioUserCommand.DmaUnmap, id);

        channel.AwaitReply(id, VfioUserCommand.DmaUnmap, 0, channel.DeadlineAfter(null), out var h, out var p);
        ClientChannel.ThrowIfError(h);
        if (h.Size != size40 || !DmaUnmapRequest.TryRead(p, out var echo))
        {
            throw channel.Violation(h.Command, id, $"{h.Size} bytes; QEMU's buffer is 40 and the reply echoes the 24-byte request");
        }

        if (echo != request)
        {
            throw channel.Violation(h.Command, id, $"echo {echo} differs from the request {request}");
        }

        return echo;
    }

    public DeviceInfo GetDeviceInfo()
    {
        const int size32 = MessageHeader.Length + DeviceInfo.Length;
        ushort id = channel.TakeId();
        var m = channel.SendBuffer.AsSpan(0, size32);
        new MessageHeader(id, VfioUserCommand.DeviceGetInfo, size32, VfioUserFlags.Command, 0).WriteTo(m);
        new DeviceInfo(DeviceInfo.Length, 0, 0, 0).WriteTo(m[MessageHeader.Length..]);
        channel.Send(m, default, default, VfioUserCommand.DeviceGetInfo, id);

        channel.AwaitReply(id, VfioUserCommand.DeviceGetInfo, 0, channel.DeadlineAfter(null), out var h, out var p);
        ClientChannel.ThrowIfError(h);
        if (h.Size != size32 || !DeviceInfo.TryRead(p, out var info))
        {
            throw channel.Violation(h.Command, id, $"{h.Size} bytes; QEMU's buffer is 32");
        }

        if (info.Argsz < DeviceInfo.Length)
        {
            throw channel.Violation(h.Command, id, $"argsz {info.Argsz} below {DeviceInfo.Length}");
        }

        if (qemuStrict)
        {
            if ((info.Flags & VfioConstants.DeviceFlagsPci) == 0)
            {
                throw channel.Violation(h.Command, id, $"flags 0x{info.Flags:x} lack PCI (0x2)");
            }

            if (info.NumRegions is < 8 or > 100 || info.NumIrqs is < 3 or > 50)
            {
                throw channel.Violation(h.Command, id, $"{info.NumRegions} regions / {info.NumIrqs} IRQ types (QEMU needs 8..100 and 3..50)");
            }
        }

        return info;
    }

    public RegionDetails GetRegionInfo(int index, uint firstArgsz)
    {
        uint argsz = firstArgsz;
        for (int attempt = 1; ; attempt++)
        {
            const int size48 = MessageHeader.Length + RegionInfo.Length;
            ushort id = channel.TakeId();
            var m = channel.SendBuffer.AsSpan(0, size48);
            new MessageHeader(id, VfioUserCommand.DeviceGetRegionInfo, size48, VfioUserFlags.Command, 0).WriteTo(m);
            new RegionInfo(argsz, 0, (uint)index, 0, 0, 0).WriteTo(m[MessageHeader.Length..]);
            channel.Send(m, default, default, VfioUserCommand.DeviceGetRegionInfo, id);

            channel.AwaitReply(id, VfioUserCommand.DeviceGetRegionInfo, 1, channel.DeadlineAfter(null), out var h, out var p);
            ClientChannel.ThrowIfError(h);
            if (h.Size > MessageHeader.Length + argsz)
            {
                throw channel.Violation(h.Command, id, $"{h.Size} bytes, larger than QEMU's 16 + argsz ({argsz}) buffer");
            }

            if (!RegionInfo.TryRead(p, out var info))
            {
                throw channel.Violation(h.Command, id, $"payload of {p.Length} bytes is shorter than struct vfio_region_info");
            }

            if (info.Index != (uint)index)
            {
                throw channel.Violation(h.Command, id, $"index {info.Index}, asked for {index}");
            }

            if (info.Argsz > argsz)
            {
                // Truncated: the capabilities did not fit. Ask again with the size the server needs.
                channel.Fds.Release();
                if (attempt > 1 || info.Argsz > MaxRegionInfoArgsz)
                {
                    throw channel.Violation(h.Command, id, $"needs argsz {info.Argsz} after we offered {argsz}");
                }

                argsz = info.Argsz;
                continue;
            }

            if (p.Length < info.Argsz)
            {
                throw channel.Violation(h.Command, id, $"argsz {info.Argsz} but only {p.Length} payload bytes");
            }

            var areas = (info.Flags & VfioConstants.RegionInfoFlagCaps) != 0
                ? ParseCapabilities(h.Command, id, p[..(int)info.Argsz], info.CapOffset)
                : (IReadOnlyList<SparseArea>)[];
            var fd = channel.Fds.Count == 1 ? channel.Fds.Take(0) : null;
            channel.Fds.Release();
            return new RegionDetails(info, areas, fd, attempt, (int)h.Size);
        }
    }

    public IrqInfo GetIrqInfo(int index)
    {
        const int size32 = MessageHeader.Length + IrqInfo.Length;
        ushort id = channel.TakeId();
        var m = channel.SendBuffer.AsSpan(0, size32);
        new MessageHeader(id, VfioUserCommand.DeviceGetIrqInfo, size32, VfioUserFlags.Command, 0).WriteTo(m);
        new IrqInfo(IrqInfo.Length, 0, (uint)index, 0).WriteTo(m[MessageHeader.Length..]);
        channel.Send(m, default, default, VfioUserCommand.DeviceGetIrqInfo, id);

        channel.AwaitReply(id, VfioUserCommand.DeviceGetIrqInfo, 0, channel.DeadlineAfter(null), out var h, out var p);
        ClientChannel.ThrowIfError(h);
        if (h.Size != size32 || !IrqInfo.TryRead(p, out var info))
        {
            throw channel.Violation(h.Command, id, $"{h.Size} bytes; QEMU's buffer is 32");
        }

        if (info.Index != (uint)index || info.Argsz < IrqInfo.Length)
        {
            throw channel.Violation(h.Command, id, $"index {info.Index} / argsz {info.Argsz} for index {index}");
        }

        return info;
    }

    public void SetIrqs(int index, uint flags, int start, int count, ReadOnlySpan<byte> data, ReadOnlySpan<SafeHandle> fds)
    {
        int headSize = MessageHeader.Length + IrqSet.Length;
        ushort id = channel.TakeId();
        var m = channel.SendBuffer.AsSpan(0, headSize);
        new MessageHeader(id, VfioUserCommand.DeviceSetIrqs, (uint)(headSize + data.Length), VfioUserFlags.Command, 0).WriteTo(m);
        new IrqSet((uint)(IrqSet.Length + data.Length), flags, (uint)index, (uint)start, (uint)count).WriteTo(m[MessageHeader.Length..]);
        channel.Send(m, data, fds, VfioUserCommand.DeviceSetIrqs, id);

        var h = AwaitBareReply(id, VfioUserCommand.DeviceSetIrqs);
        if (h.Size != MessageHeader.Length)
        {
            throw channel.Violation(h.Command, id, $"{h.Size} bytes; a SET_IRQS reply is the 16-byte header");
        }
    }

    public void DeviceReset()
    {
        ushort id = channel.TakeId();
        var m = channel.SendBuffer.AsSpan(0, MessageHeader.Length);
        new MessageHeader(id, VfioUserCommand.DeviceReset, MessageHeader.Length, VfioUserFlags.Command, 0).WriteTo(m);
        channel.Send(m, default, default, VfioUserCommand.DeviceReset, id);

        var h = AwaitBareReply(id, VfioUserCommand.DeviceReset);
        if (h.Size != MessageHeader.Length)
        {
            throw channel.Violation(h.Command, id, $"{h.Size} bytes; a DEVICE_RESET reply is the 16-byte header");
        }
    }

    private MessageHeader AwaitBareReply(ushort id, VfioUserCommand command)
    {
        channel.AwaitReply(id, command, 0, channel.DeadlineAfter(null), out var h, out _);
        ClientChannel.ThrowIfError(h);
        return h;
    }

    private List<SparseArea> ParseCapabilities(VfioUserCommand command, ushort id, ReadOnlySpan<byte> info, uint capOffset)
    {
        var areas = new List<SparseArea>();
        uint at = capOffset;
        for (int hops = 0; at != 0; hops++)
        {
            if (hops >= 32)
            {
                throw channel.Violation(command, id, "capability chain longer than 32 entries (a loop?)");
            }

            if (at < RegionInfo.Length || (ulong)at + 8 > (ulong)info.Length)
            {
                throw channel.Violation(command, id, $"capability at 0x{at:x} lies outside the {info.Length}-byte region info");
            }

            var cap = info[(int)at..];
            ushort capId = BinaryPrimitives.ReadUInt16LittleEndian(cap);
            uint next = BinaryPrimitives.ReadUInt32LittleEndian(cap[4..]);
            if (capId == VfioConstants.RegionInfoCapSparseMmap)
            {
                if (cap.Length < SparseMmapCapability.HeaderLength)
                {
                    throw channel.Violation(command, id, "sparse mmap capability truncated");
                }

                uint nr = BinaryPrimitives.ReadUInt32LittleEndian(cap[8..]);
                if ((ulong)SparseMmapCapability.HeaderLength + ((ulong)nr * SparseMmapCapability.AreaLength) > (ulong)cap.Length)
                {
                    throw channel.Violation(command, id, $"sparse mmap capability declares {nr} areas; {cap.Length} bytes hold fewer");
                }

                for (int i = 0; i < (int)nr; i++)
                {
                    var a = cap[(SparseMmapCapability.HeaderLength + (i * SparseMmapCapability.AreaLength))..];
                    areas.Add(new SparseArea(BinaryPrimitives.ReadUInt64LittleEndian(a), BinaryPrimitives.ReadUInt64LittleEndian(a[8..])));
                }
            }

            if (next != 0 && next <= at)
            {
                throw channel.Violation(command, id, $"capability chain goes backwards (0x{at:x} -> 0x{next:x})");
            }

            at = next;
        }

        return areas;
    }
}
