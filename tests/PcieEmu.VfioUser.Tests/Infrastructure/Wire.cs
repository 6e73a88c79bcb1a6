using System.Buffers.Binary;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Tests.Infrastructure;

/// <summary>Request payloads and whole messages built byte by byte, as QEMU lays them out.</summary>
internal static class Wire
{
    public const uint Rw = VfioConstants.DmaMapFlagRead | VfioConstants.DmaMapFlagWrite;
    public const uint R = VfioConstants.DmaMapFlagRead;

    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal));

    public static string ToHex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    public static byte[] Message(ushort id, VfioUserCommand command, ReadOnlySpan<byte> payload, VfioUserFlags flags = VfioUserFlags.Command, uint? size = null)
    {
        var m = new byte[MessageHeader.Length + payload.Length];
        new MessageHeader(id, command, size ?? (uint)m.Length, flags, 0).WriteTo(m);
        payload.CopyTo(m.AsSpan(MessageHeader.Length));
        return m;
    }

    public static byte[] Version(ushort major, ushort minor, string? json)
    {
        var p = new byte[VersionMessage.Length(json)];
        VersionMessage.Write(p, major, minor, json);
        return p;
    }

    public static byte[] QemuVersion() => Version(0, 0, VfioUserClientOptions.QemuVersionJson);

    public static byte[] DmaMap(uint flags, ulong offset, ulong iova, ulong size, uint argsz = DmaMapRequest.Length)
    {
        var p = new byte[DmaMapRequest.Length];
        new DmaMapRequest(argsz, flags, offset, iova, size).WriteTo(p);
        return p;
    }

    public static byte[] DmaUnmap(ulong iova, ulong size, uint flags = 0, uint argsz = DmaUnmapRequest.Length)
    {
        var p = new byte[DmaUnmapRequest.Length];
        new DmaUnmapRequest(argsz, flags, iova, size).WriteTo(p);
        return p;
    }

    public static byte[] DeviceInfo(uint argsz = Protocol.DeviceInfo.Length)
    {
        var p = new byte[Protocol.DeviceInfo.Length];
        new DeviceInfo(argsz, 0, 0, 0).WriteTo(p);
        return p;
    }

    public static byte[] RegionInfo(int index, uint argsz = Protocol.RegionInfo.Length)
    {
        var p = new byte[Protocol.RegionInfo.Length];
        new RegionInfo(argsz, 0, (uint)index, 0, 0, 0).WriteTo(p);
        return p;
    }

    public static byte[] IrqInfo(int index, uint argsz = Protocol.IrqInfo.Length)
    {
        var p = new byte[Protocol.IrqInfo.Length];
        new IrqInfo(argsz, 0, (uint)index, 0).WriteTo(p);
        return p;
    }

    public static byte[] IrqSet(uint flags, int index, int start, int count, ReadOnlySpan<byte> data = default, uint? argsz = null)
    {
        var p = new byte[Protocol.IrqSet.Length + data.Length];
        new Protocol.IrqSet(argsz ?? (uint)p.Length, flags, (uint)index, (uint)start, (uint)count).WriteTo(p);
        data.CopyTo(p.AsSpan(Protocol.IrqSet.Length));
        return p;
    }

    public static byte[] Access(ulong offset, int region, int count, ReadOnlySpan<byte> data = default) =>
        Access(offset, (uint)region, (uint)count, data);

    public static byte[] Access(ulong offset, uint region, uint count, ReadOnlySpan<byte> data = default)
    {
        var p = new byte[RegionAccess.Length + data.Length];
        new RegionAccess(offset, region, count).WriteTo(p);
        data.CopyTo(p.AsSpan(RegionAccess.Length));
        return p;
    }

    public static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }

    public static byte[] U16(ushort v)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        return b;
    }
}
