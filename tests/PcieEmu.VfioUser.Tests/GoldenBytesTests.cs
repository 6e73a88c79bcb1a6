using System.Text;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>Every wire struct: WriteTo produces exactly these bytes and TryRead parses them back (style.md §4.3).</summary>
public sealed class GoldenBytesTests
{
    [Fact]
    public void Header_round_trips()
    {
        var h = new MessageHeader(0x1234, VfioUserCommand.DmaMap, 48, VfioUserFlags.Command, 0);
        const string hex = "3412 0200 30000000 00000000 00000000";
        AssertGolden(h, MessageHeader.Length, hex, h.WriteTo, MessageHeader.TryRead);
        h.IsReply.Should().BeFalse();

        var error = new MessageHeader(7, VfioUserCommand.RegionRead, 32, VfioUserFlags.Command, 0).ErrorHeader(Interop.Errno.EINVAL);
        AssertGolden(error, MessageHeader.Length, "0700 0900 10000000 21000000 16000000", error.WriteTo, MessageHeader.TryRead);
        error.IsReply.Should().BeTrue();
        error.IsError.Should().BeTrue();

        var reply = new MessageHeader(9, VfioUserCommand.RegionRead, 32, VfioUserFlags.Command, 0).ReplyHeader(20);
        AssertGolden(reply, MessageHeader.Length, "0900 0900 24000000 01000000 00000000", reply.WriteTo, MessageHeader.TryRead);

        var posted = new MessageHeader(1, VfioUserCommand.RegionWrite, 36, VfioUserFlags.Command | VfioUserFlags.NoReply, 0);
        posted.NoReply.Should().BeTrue();
        posted.Type.Should().Be(VfioUserFlags.Command);
    }

    [Fact]
    public void Dma_map_round_trips()
    {
        var m = new DmaMapRequest(32, 3, 0x100000, 0x100000, 0x1FF0_0000);
        AssertGolden(m, DmaMapRequest.Length,
            "20000000 03000000 0000100000000000 0000100000000000 0000f01f00000000", m.WriteTo, DmaMapRequest.TryRead);
    }

    [Fact]
    public void Dma_unmap_round_trips()
    {
        var m = new DmaUnmapRequest(24, 2, 0, 0x2000_0000);
        AssertGolden(m, DmaUnmapRequest.Length, "18000000 02000000 0000000000000000 0000002000000000", m.WriteTo, DmaUnmapRequest.TryRead);
    }

    [Fact]
    public void Device_info_round_trips()
    {
        var m = new DeviceInfo(16, 3, 9, 5);
        AssertGolden(m, DeviceInfo.Length, "10000000 03000000 09000000 05000000", m.WriteTo, DeviceInfo.TryRead);
    }

    [Fact]
    public void Region_info_with_sparse_mmap_capability_matches_the_96_byte_reply_qemu_accepts()
    {
        // notes §7: flags 0xf, cap_offset 0x20, nr_areas 2 {0x0,0x1000} {0x2000,0x1000}.
        var info = new RegionInfo(80, 0xF, 4, 0x20, 0x4000, 0);
        AssertGolden(info, RegionInfo.Length,
            "50000000 0f000000 04000000 20000000 0040000000000000 0000000000000000", info.WriteTo, RegionInfo.TryRead);

        SparseMmapCapability.LengthFor(2).Should().Be(48);
        var cap = new byte[SparseMmapCapability.LengthFor(2)];
        SparseMmapCapability.Write(cap, 0, [(0UL, 0x1000UL), (0x2000UL, 0x1000UL)]);
        Wire.ToHex(cap).Should().Be(Wire.ToHex(Wire.Hex(
            "0100 0100 00000000 02000000 00000000 0000000000000000 0010000000000000 0020000000000000 0010000000000000")));
    }

    [Fact]
    public void Irq_info_round_trips()
    {
        var m = new IrqInfo(16, VfioConstants.IrqInfoEventfd, 3, 1);
        AssertGolden(m, IrqInfo.Length, "10000000 01000000 03000000 01000000", m.WriteTo, IrqInfo.TryRead);
    }

    [Fact]
    public void Irq_set_round_trips_and_splits_flags()
    {
        var m = new IrqSet(20, 0x24, 3, 0, 1);
        AssertGolden(m, IrqSet.Length, "14000000 24000000 03000000 00000000 01000000", m.WriteTo, IrqSet.TryRead);
        m.DataType.Should().Be(VfioConstants.IrqSetDataEventfd);
        m.Action.Should().Be(VfioConstants.IrqSetActionTrigger);
    }

    [Fact]
    public void Region_access_round_trips()
    {
        var m = new RegionAccess(0x10, 7, 4);
        AssertGolden(m, RegionAccess.Length, "1000000000000000 07000000 04000000", m.WriteTo, RegionAccess.TryRead);
    }

    [Fact]
    public void Write_multi_entry_round_trips()
    {
        var m = new RegionWriteMultiEntry(0x20, 0, 4, 0xDEAD_BEEF);
        AssertGolden(m, RegionWriteMultiEntry.Length, "2000000000000000 00000000 04000000 efbeadde00000000", m.WriteTo, RegionWriteMultiEntry.TryRead);
    }

    [Fact]
    public void Dma_transfer_has_a_64_bit_count_and_data_at_byte_32_as_qemu_11_1_3_sends_it()
    {
        // Verified against the QEMU 11.1.3 binary (commit 18ddc73): the source reading in the notes (u32 count,
        // data at byte 28) does not match what ships. Messages are 32 + count bytes either way.
        DmaTransfer.DataOffset.Should().Be(32);
        DmaTransfer.MessageSize(8, withData: true).Should().Be(40);
        DmaTransfer.MessageSize(8, withData: false).Should().Be(32);
        var p = new byte[16];
        DmaTransfer.WriteHead(p, 0x1000, 8);
        Wire.ToHex(p).Should().Be("0010000000000000" + "0800000000000000");
        DmaTransfer.TryReadHead(p, out ulong address, out ulong count).Should().BeTrue();
        (address, count).Should().Be((0x1000UL, 8UL));
        DmaTransfer.TryReadHead(p.AsSpan(0, 15), out _, out _).Should().BeFalse();

        // A whole DMA_WRITE request: header, address, count, data at byte 32.
        var message = new byte[DmaTransfer.MessageSize(4, withData: true)];
        new MessageHeader(3, VfioUserCommand.DmaWrite, (uint)message.Length, VfioUserFlags.Command, 0).WriteTo(message);
        DmaTransfer.WriteHead(message.AsSpan(16), 0x2000, 4);
        Wire.U32(0xCAFEF00D).CopyTo(message.AsSpan(DmaTransfer.DataOffset));
        Wire.ToHex(message).Should().Be(Wire.ToHex(Wire.Hex(
            "0300 0c00 24000000 00000000 00000000 0020000000000000 0400000000000000 0df0feca")));
    }

    [Fact]
    public void Version_payload_is_major_minor_json_and_nul()
    {
        var p = new byte[VersionMessage.Length("{}")];
        VersionMessage.Write(p, 0, 2, "{}").Should().Be(7);
        Wire.ToHex(p).Should().Be("0000" + "0200" + "7b7d" + "00");
        VersionMessage.TryRead(p, out ushort major, out ushort minor, out var json).Should().BeTrue();
        (major, minor).Should().Be(((ushort)0, (ushort)2));
        json.ToArray().Should().Equal((byte)'{', (byte)'}', 0);
        VersionMessage.TryRead(p.AsSpan(0, 3), out _, out _, out _).Should().BeFalse();
        VersionMessage.Length(null).Should().Be(4);
    }

    [Fact]
    public void Qemu_version_request_is_214_bytes_and_parses_to_its_capabilities()
    {
        VfioUserClientOptions.QemuVersionJson.Length.Should().Be(193);
        var payload = Wire.QemuVersion();
        (MessageHeader.Length + payload.Length).Should().Be(214);
        payload[^1].Should().Be(0);
        Encoding.UTF8.GetString(payload, 4, 193).Should().Be(VfioUserClientOptions.QemuVersionJson);

        VersionCapabilities.TryParse(payload.AsSpan(4), out var caps, out string? error).Should().BeTrue(error);
        caps.MaxMsgFds.Should().Be(16);
        caps.MaxDataTransferSize.Should().Be(1 << 20);
        caps.MaxDmaMaps.Should().Be(65535);
        caps.PageSizes.Should().Be(4096);
        caps.WriteMultiple.Should().BeTrue();
        caps.PresentKeys.Should().Contain(["migration", "pgsizes", "max_msg_fds"]);
    }

    [Theory]
    [InlineData("{\"capabilities\": {}}", true)]
    [InlineData("{}", true)]
    [InlineData("{\"capabilities\": {\"unknown_key\": [1,2]}}", true)]
    [InlineData("{\"capabilities\": 5}", false)]
    [InlineData("[1]", false)]
    [InlineData("{\"capabilities\": {\"max_msg_fds\": -1}}", false)]
    [InlineData("{\"capabilities\": {\"max_data_xfer_size\": 0}}", false)]
    [InlineData("{not json", false)]
    public void Capabilities_parse_leniently_but_reject_malformed_values(string json, bool ok)
    {
        var bytes = Encoding.UTF8.GetBytes(json + "\0");
        VersionCapabilities.TryParse(bytes, out _, out string? error).Should().Be(ok, error);
    }

    [Fact]
    public void Capabilities_json_must_be_nul_terminated()
    {
        VersionCapabilities.TryParse("{}"u8, out _, out string? error).Should().BeFalse();
        error.Should().Contain("NUL");
        VersionCapabilities.TryParse("{}\0x"u8, out _, out _).Should().BeFalse();
        VersionCapabilities.TryParse("{}\0\0"u8, out _, out _).Should().BeTrue();
        VersionCapabilities.TryParse(ReadOnlySpan<byte>.Empty, out var defaults, out _).Should().BeTrue();
        defaults.MaxMsgFds.Should().Be(1, "the spec default when absent");
    }

    [Fact]
    public void Reply_json_shrinks_to_fit_the_clients_buffer()
    {
        var ours = new VersionCapabilities { MaxMsgFds = 16, MaxDataTransferSize = 1 << 20, MaxDmaMaps = 16384, PageSizes = 4096 };
        var keys = new HashSet<string> { "pgsizes", "max_dma_maps", "max_msg_fds", "max_data_xfer_size" };
        string full = ours.ToReplyJson(1000, keys)!;
        full.Should().Be("{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,\"pgsizes\":4096,\"max_dma_maps\":16384}}");
        string? small = ours.ToReplyJson(60, keys);
        small.Should().NotBeNull();
        (Encoding.UTF8.GetByteCount(small!) + 1).Should().BeLessThanOrEqualTo(60);
        ours.ToReplyJson(10, keys).Should().BeNull();
    }

    [Fact]
    public void Short_input_never_parses()
    {
        MessageHeader.TryRead(new byte[15], out _).Should().BeFalse();
        DmaMapRequest.TryRead(new byte[31], out _).Should().BeFalse();
        DmaUnmapRequest.TryRead(new byte[23], out _).Should().BeFalse();
        DeviceInfo.TryRead(new byte[15], out _).Should().BeFalse();
        RegionInfo.TryRead(new byte[31], out _).Should().BeFalse();
        IrqInfo.TryRead(new byte[15], out _).Should().BeFalse();
        IrqSet.TryRead(new byte[19], out _).Should().BeFalse();
        RegionAccess.TryRead(new byte[15], out _).Should().BeFalse();
        RegionWriteMultiEntry.TryRead(new byte[23], out _).Should().BeFalse();
    }

    private delegate void Writer(Span<byte> destination);

    private delegate bool Reader<T>(ReadOnlySpan<byte> source, out T value);

    private static void AssertGolden<T>(T value, int length, string hex, Writer write, Reader<T> read)
    {
        var expected = Wire.Hex(hex);
        expected.Length.Should().Be(length);
        var buffer = new byte[length];
        write(buffer);
        Wire.ToHex(buffer).Should().Be(Wire.ToHex(expected));
        read(expected, out var parsed).Should().BeTrue();
        parsed.Should().Be(value);
    }
}
