using System.Buffers.Binary;
using PcieEmu.Interop;
using PcieEmu.Pci;
using PcieEmu.Pci.Bars;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

public sealed partial class VfioUserConnection
{
    private int HandleGetInfo(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!DeviceInfo.TryRead(payload, out var request) || request.Argsz < DeviceInfo.Length)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B / argsz too small");
            return Errno.EINVAL;
        }

        new DeviceInfo(DeviceInfo.Length, VfioConstants.DeviceFlagsReset | VfioConstants.DeviceFlagsPci, VfioRegion.Count, 5).WriteTo(reply);
        replyLength = DeviceInfo.Length;
        return 0;
    }

    private int HandleGetRegionInfo(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!RegionInfo.TryRead(payload, out var request) || request.Argsz < RegionInfo.Length)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B / argsz too small");
            return Errno.EINVAL;
        }

        if (request.Index >= VfioRegion.Count)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"region index {request.Index}");
            return Errno.EINVAL;
        }

        var region = Describe((int)request.Index);
        int capLength = region.MmapAreas.Count > 0 ? SparseMmapCapability.LengthFor(region.MmapAreas.Count) : 0;
        uint needed = (uint)(RegionInfo.Length + capLength);
        if (request.Argsz < needed)
        {
            // Too small for the capability chain: say how much is needed; the client asks again.
            new RegionInfo(needed, region.Flags, request.Index, 0, region.Size, 0).WriteTo(reply);
            replyLength = RegionInfo.Length;
            return 0;
        }

        uint flags = region.Flags | (capLength > 0 ? VfioConstants.RegionInfoFlagCaps : 0);
        new RegionInfo(needed, flags, request.Index, capLength > 0 ? (uint)RegionInfo.Length : 0, region.Size, 0).WriteTo(reply);
        if (capLength > 0)
        {
            Span<(ulong, ulong)> areas = stackalloc (ulong, ulong)[region.MmapAreas.Count];
            for (int i = 0; i < areas.Length; i++)
            {
                areas[i] = (region.MmapAreas[i].Offset, region.MmapAreas[i].Size);
            }

            SparseMmapCapability.Write(reply[RegionInfo.Length..], 0, areas);
            _replyFd = region.Fd;
        }

        replyLength = (int)needed;
        return 0;
    }

    private int HandleGetRegionIoFds(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (payload.Length < 16 || BinaryPrimitives.ReadUInt32LittleEndian(payload) < 16)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, "payload/argsz below 16");
            return Errno.EINVAL;
        }

        uint index = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        if (index >= VfioRegion.Count)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"region index {index}");
            return Errno.EINVAL;
        }

        // We offer no ioeventfds: the answer is an empty list.
        BinaryPrimitives.WriteUInt32LittleEndian(reply, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(reply[4..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(reply[8..], index);
        BinaryPrimitives.WriteUInt32LittleEndian(reply[12..], 0);
        replyLength = 16;
        return 0;
    }

    private int HandleRegionRead(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!RegionAccess.TryRead(payload, out var access) || payload.Length != RegionAccess.Length)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B, need {RegionAccess.Length}");
            return Errno.EINVAL;
        }

        int errno = ValidateAccess(h, access, isWrite: false);
        if (errno != 0)
        {
            return errno;
        }

        var data = reply.Slice(RegionAccess.Length, (int)access.Count);
        switch ((int)access.Region)
        {
            case VfioRegion.Config:
                _function.ConfigRead((int)access.Offset, data);
                break;
            case VfioRegion.Rom:
                _function.RomRead(access.Offset, data);
                break;
            default:
                _function.BarRead((int)access.Region, access.Offset, data);
                break;
        }

        access.WriteTo(reply);
        replyLength = RegionAccess.Length + (int)access.Count;
        return 0;
    }

    private int HandleRegionWrite(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!RegionAccess.TryRead(payload, out var access) || (ulong)payload.Length != RegionAccess.Length + (ulong)access.Count)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B does not hold the {(payload.Length >= 16 ? access.Count : 0)} data bytes declared");
            return Errno.EINVAL;
        }

        int errno = ValidateAccess(h, access, isWrite: true);
        if (errno != 0)
        {
            return errno;
        }

        Write(access, payload[RegionAccess.Length..]);
        access.WriteTo(reply);
        replyLength = RegionAccess.Length;
        return 0;
    }

    private int HandleRegionWriteMulti(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (payload.Length < 8)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, "no wr_cnt");
            return Errno.EINVAL;
        }

        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        if (count == 0 || count > RegionWriteMultiEntry.MaxEntries || (ulong)payload.Length < 8 + (count * RegionWriteMultiEntry.Length))
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"wr_cnt {count} with {payload.Length} B of payload");
            return Errno.EINVAL;
        }

        // Validate every entry before applying any, so a bad batch changes nothing.
        for (int i = 0; i < (int)count; i++)
        {
            RegionWriteMultiEntry.TryRead(payload[(8 + (i * RegionWriteMultiEntry.Length))..], out var e);
            int errno = e.Count is < 1 or > RegionWriteMultiEntry.MaxData
                ? Errno.EINVAL
                : ValidateAccess(h, new RegionAccess(e.Offset, e.Region, e.Count), isWrite: true);
            if (errno != 0)
            {
                return errno;
            }
        }

        Span<byte> data = stackalloc byte[RegionWriteMultiEntry.MaxData];
        for (int i = 0; i < (int)count; i++)
        {
            RegionWriteMultiEntry.TryRead(payload[(8 + (i * RegionWriteMultiEntry.Length))..], out var e);
            BinaryPrimitives.WriteUInt64LittleEndian(data, e.Data);
            Write(new RegionAccess(e.Offset, e.Region, e.Count), data[..(int)e.Count]);
        }

        BinaryPrimitives.WriteUInt64LittleEndian(reply, count);
        replyLength = 8;
        return 0;
    }

    private void Write(in RegionAccess access, ReadOnlySpan<byte> data)
    {
        if (access.Region == VfioRegion.Config)
        {
            _function.ConfigWrite((int)access.Offset, data);
        }
        else
        {
            _function.BarWrite((int)access.Region, access.Offset, data);
        }
    }

    private int ValidateAccess(in MessageHeader h, in RegionAccess access, bool isWrite)
    {
        if (access.Region >= VfioRegion.Count)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"region {access.Region}");
            return Errno.EINVAL;
        }

        if (access.Count == 0 || access.Count > _options.MaxDataTransferSize)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"count {access.Count} (1..{_options.MaxDataTransferSize})");
            return access.Count == 0 ? Errno.EINVAL : Errno.E2BIG;
        }

        var region = Describe((int)access.Region);
        if (region.Size == 0 || access.Offset > region.Size || access.Count > region.Size - access.Offset)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"[0x{access.Offset:x}, +{access.Count}) outside region {access.Region} (0x{region.Size:x} B)");
            return Errno.EINVAL;
        }

        if (isWrite && (region.Flags & VfioConstants.RegionInfoFlagWrite) == 0)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"region {access.Region} is read-only");
            return Errno.EINVAL;
        }

        return 0;
    }

    private int HandleDeviceReset()
    {
        _function.Reset(ResetKind.DeviceReset);
        return 0;
    }

    private int HandleDeviceFeature(in MessageHeader h, ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 8)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, "payload below 8 bytes");
            return Errno.EINVAL;
        }

        // No device features (migration, DMA logging) are implemented.
        return Errno.ENOTSUP;
    }

    private RegionDescription Describe(int index)
    {
        const uint rw = VfioConstants.RegionInfoFlagRead | VfioConstants.RegionInfoFlagWrite;
        switch (index)
        {
            case VfioRegion.Config:
                return new RegionDescription((ulong)_function.Config.Size, rw, [], null);
            case VfioRegion.Rom:
                return _function.Rom is null ? RegionDescription.Empty : new RegionDescription(_function.Rom.Size, VfioConstants.RegionInfoFlagRead, [], null);
            case VfioRegion.Vga:
                return RegionDescription.Empty;
            default:
                var bar = _function.Bars[index];
                if (bar is null)
                {
                    return RegionDescription.Empty;
                }

                if (bar.Memory is not null && bar.MmapAreas.Count > 0)
                {
                    return new RegionDescription(bar.Size, rw | VfioConstants.RegionInfoFlagMmap, bar.MmapAreas, bar.Memory.Fd);
                }

                return new RegionDescription(bar.Size, rw, [], null);
        }
    }

    private readonly record struct RegionDescription(ulong Size, uint Flags, IReadOnlyList<MmapArea> MmapAreas, System.Runtime.InteropServices.SafeHandle? Fd)
    {
        public static RegionDescription Empty => new(0, 0, [], null);
    }
}
