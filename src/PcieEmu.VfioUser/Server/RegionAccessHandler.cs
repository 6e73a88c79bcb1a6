using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using PcieEmu.Interop;
using PcieEmu.Pci;
using PcieEmu.Pci.Bars;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// The region requests of one session: region info (config space, BARs, expansion ROM, the empty VGA region),
/// REGION_READ, REGION_WRITE and REGION_WRITE_MULTI. Every access is checked against the region's size and
/// rights before it reaches the function's bus-side methods. Holds no state of its own beyond the function and
/// the transfer limit; runs on the session thread.
/// </summary>
internal sealed class RegionAccessHandler
{
    private readonly PciFunction _function;
    private readonly int _maxDataTransferSize;
    private readonly ILogger _clientLogger;

    /// <param name="function">The device whose config space, BARs and ROM the accesses reach.</param>
    /// <param name="maxDataTransferSize">Largest count one access may carry (what we advertised as max_data_xfer_size).</param>
    /// <param name="clientLogger">Where malformed or out-of-range client accesses are logged.</param>
    public RegionAccessHandler(PciFunction function, int maxDataTransferSize, ILogger clientLogger)
    {
        _function = function;
        _maxDataTransferSize = maxDataTransferSize;
        _clientLogger = clientLogger;
    }

    /// <summary>
    /// DEVICE_GET_REGION_INFO: 0 (the info, with a sparse-mmap capability for a mappable BAR, in <paramref name="reply"/>)
    /// or an errno. <paramref name="replyFd"/> is the BAR memory's fd the reply must carry, or null.
    /// </summary>
    public int GetInfo(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength, out SafeHandle? replyFd)
    {
        replyLength = 0;
        replyFd = null;
        if (!RegionInfo.TryRead(payload, out var request) || request.Argsz < RegionInfo.Length)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B / argsz too small");
            return Errno.EINVAL;
        }

        if (request.Index >= VfioRegion.Count)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"region index {request.Index}");
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
            replyFd = region.Fd;
        }

        replyLength = (int)needed;
        return 0;
    }

    /// <summary>DEVICE_GET_REGION_IO_FDS: always an empty list (we offer no ioeventfds), or an errno.</summary>
    public int GetIoFds(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (payload.Length < 16 || BinaryPrimitives.ReadUInt32LittleEndian(payload) < 16)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, "payload/argsz below 16");
            return Errno.EINVAL;
        }

        uint index = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        if (index >= VfioRegion.Count)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"region index {index}");
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

    /// <summary>REGION_READ: 0 (the access head and the data in <paramref name="reply"/>) or an errno.</summary>
    public int Read(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!RegionAccess.TryRead(payload, out var access) || payload.Length != RegionAccess.Length)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B, need {RegionAccess.Length}");
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

    /// <summary>REGION_WRITE: 0 (the access head echoed) or an errno; the data goes to the function without a copy.</summary>
    public int Write(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!RegionAccess.TryRead(payload, out var access) || (ulong)payload.Length != RegionAccess.Length + (ulong)access.Count)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B does not hold the {(payload.Length >= 16 ? access.Count : 0)} data bytes declared");
            return Errno.EINVAL;
        }

        int errno = ValidateAccess(h, access, isWrite: true);
        if (errno != 0)
        {
            return errno;
        }

        Apply(access, payload[RegionAccess.Length..]);
        access.WriteTo(reply);
        replyLength = RegionAccess.Length;
        return 0;
    }

    /// <summary>REGION_WRITE_MULTI: 0 (the count echoed) or an errno; the whole batch is validated before any write.</summary>
    public int WriteMulti(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (payload.Length < 8)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, "no wr_cnt");
            return Errno.EINVAL;
        }

        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        if (count == 0 || count > RegionWriteMultiEntry.MaxEntries || (ulong)payload.Length < 8 + (count * RegionWriteMultiEntry.Length))
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"wr_cnt {count} with {payload.Length} B of payload");
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
            Apply(new RegionAccess(e.Offset, e.Region, e.Count), data[..(int)e.Count]);
        }

        BinaryPrimitives.WriteUInt64LittleEndian(reply, count);
        replyLength = 8;
        return 0;
    }

    private void Apply(in RegionAccess access, ReadOnlySpan<byte> data)
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
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"region {access.Region}");
            return Errno.EINVAL;
        }

        if (access.Count == 0 || access.Count > _maxDataTransferSize)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"count {access.Count} (1..{_maxDataTransferSize})");
            return access.Count == 0 ? Errno.EINVAL : Errno.E2BIG;
        }

        var region = Describe((int)access.Region);
        if (region.Size == 0 || access.Offset > region.Size || access.Count > region.Size - access.Offset)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"[0x{access.Offset:x}, +{access.Count}) outside region {access.Region} (0x{region.Size:x} B)");
            return Errno.EINVAL;
        }

        if (isWrite && (region.Flags & VfioConstants.RegionInfoFlagWrite) == 0)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"region {access.Region} is read-only");
            return Errno.EINVAL;
        }

        return 0;
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

    private readonly record struct RegionDescription(ulong Size, uint Flags, IReadOnlyList<MmapArea> MmapAreas, SafeHandle? Fd)
    {
        public static RegionDescription Empty => new(0, 0, [], null);
    }
}
