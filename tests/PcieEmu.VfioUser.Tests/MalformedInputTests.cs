using System.Runtime.InteropServices;
using PcieEmu.Interop;
using PcieEmu.Pci;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Server;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// style.md §4.4: every malformed request gets its errno (a 16-byte REPLY|ERROR header), nothing throws out of
/// the server, and the connection stays usable: each case is followed by a valid request.
/// </summary>
public sealed class MalformedInputTests
{
    private const int Config = VfioRegion.Config;
    private const int MsixIndex = 2;

    /// <summary>A request that must fail: payload, fds (created per run) and the expected errno.</summary>
    private sealed record Case(VfioUserCommand Command, byte[] Payload, int Errno, int Fds = 0, Action<ServerHarness>? Setup = null);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // Short payloads, for every command that has one.
        ["short DMA_MAP"] = new(VfioUserCommand.DmaMap, new byte[31], Errno.EINVAL),
        ["short DMA_UNMAP"] = new(VfioUserCommand.DmaUnmap, new byte[23], Errno.EINVAL),
        ["short DEVICE_GET_INFO"] = new(VfioUserCommand.DeviceGetInfo, new byte[15], Errno.EINVAL),
        ["short GET_REGION_INFO"] = new(VfioUserCommand.DeviceGetRegionInfo, Wire.RegionInfo(0)[..31], Errno.EINVAL),
        ["short GET_REGION_IO_FDS"] = new(VfioUserCommand.DeviceGetRegionIoFds, new byte[15], Errno.EINVAL),
        ["short GET_IRQ_INFO"] = new(VfioUserCommand.DeviceGetIrqInfo, Wire.IrqInfo(0)[..15], Errno.EINVAL),
        ["short SET_IRQS"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x21, 0, 0, 0)[..19], Errno.EINVAL),
        ["short REGION_READ"] = new(VfioUserCommand.RegionRead, Wire.Access(0, Config, 4)[..15], Errno.EINVAL),
        ["REGION_READ with trailing bytes"] = new(VfioUserCommand.RegionRead, [.. Wire.Access(0, Config, 4), 0], Errno.EINVAL),
        ["short REGION_WRITE"] = new(VfioUserCommand.RegionWrite, Wire.Access(0, Config, 4)[..15], Errno.EINVAL),
        ["short REGION_WRITE_MULTI"] = new(VfioUserCommand.RegionWriteMulti, new byte[7], Errno.EINVAL),
        ["short DEVICE_FEATURE"] = new(VfioUserCommand.DeviceFeature, new byte[7], Errno.EINVAL),
        ["empty VERSION"] = new(VfioUserCommand.Version, [], Errno.EINVAL),

        // argsz below the struct.
        ["DMA_MAP argsz 16"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x1000, 0x1000, argsz: 16), Errno.EINVAL),
        ["DMA_UNMAP argsz 16"] = new(VfioUserCommand.DmaUnmap, Wire.DmaUnmap(0x1000, 0x1000, argsz: 16), Errno.EINVAL),
        ["GET_INFO argsz 8"] = new(VfioUserCommand.DeviceGetInfo, Wire.DeviceInfo(8), Errno.EINVAL),
        ["GET_REGION_INFO argsz 16"] = new(VfioUserCommand.DeviceGetRegionInfo, Wire.RegionInfo(0, 16), Errno.EINVAL),
        ["GET_IRQ_INFO argsz 8"] = new(VfioUserCommand.DeviceGetIrqInfo, Wire.IrqInfo(0, 8), Errno.EINVAL),
        ["SET_IRQS argsz 12"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x21, 0, 0, 0, argsz: 12), Errno.EINVAL),
        ["SET_IRQS BOOL without its data"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x0A, MsixIndex, 0, 2, [1]), Errno.EINVAL),

        // Indices, counts and ranges.
        ["GET_REGION_INFO index 9"] = new(VfioUserCommand.DeviceGetRegionInfo, Wire.RegionInfo(9), Errno.EINVAL),
        ["GET_REGION_INFO index 0xffffffff"] = new(VfioUserCommand.DeviceGetRegionInfo, Wire.RegionInfo(-1), Errno.EINVAL),
        ["GET_REGION_IO_FDS index 9"] = new(VfioUserCommand.DeviceGetRegionIoFds, Wire.RegionInfo(9)[..16], Errno.EINVAL),
        ["GET_IRQ_INFO index 5"] = new(VfioUserCommand.DeviceGetIrqInfo, Wire.IrqInfo(5), Errno.EINVAL),
        ["REGION_READ region 9"] = new(VfioUserCommand.RegionRead, Wire.Access(0, 9, 4), Errno.EINVAL),
        ["REGION_READ region 0xffffffff"] = new(VfioUserCommand.RegionRead, Wire.Access(0, uint.MaxValue, 4u), Errno.EINVAL),
        ["REGION_READ of the VGA region"] = new(VfioUserCommand.RegionRead, Wire.Access(0, VfioRegion.Vga, 4), Errno.EINVAL),
        ["REGION_READ of an unused BAR"] = new(VfioUserCommand.RegionRead, Wire.Access(0, 3, 4), Errno.EINVAL),
        ["REGION_READ of an absent ROM"] = new(VfioUserCommand.RegionRead, Wire.Access(0, VfioRegion.Rom, 4), Errno.EINVAL),
        ["REGION_READ count 0"] = new(VfioUserCommand.RegionRead, Wire.Access(0, Config, 0), Errno.EINVAL),
        ["REGION_READ offset+count overflows"] = new(VfioUserCommand.RegionRead, Wire.Access(ulong.MaxValue - 1, Config, 4), Errno.EINVAL),
        ["REGION_READ past the end"] = new(VfioUserCommand.RegionRead, Wire.Access(4094, Config, 4), Errno.EINVAL),
        ["REGION_READ at the end"] = new(VfioUserCommand.RegionRead, Wire.Access(4096, Config, 1), Errno.EINVAL),
        ["REGION_READ of BAR0 past its end"] = new(VfioUserCommand.RegionRead, Wire.Access(TestDevice.RegsSize - 4, TestDevice.RegsBar, 8), Errno.EINVAL),
        ["REGION_READ count above max_data_xfer_size"] = new(VfioUserCommand.RegionRead, Wire.Access(0, Config, (1 << 20) + 1), Errno.E2BIG),
        ["REGION_READ count 0xffffffff"] = new(VfioUserCommand.RegionRead, Wire.Access(0, (uint)Config, uint.MaxValue), Errno.E2BIG),
        ["REGION_WRITE count above its data"] = new(VfioUserCommand.RegionWrite, Wire.Access(0x3c, Config, 8, [1, 2, 3, 4]), Errno.EINVAL),
        ["REGION_WRITE count below its data"] = new(VfioUserCommand.RegionWrite, Wire.Access(0x3c, Config, 2, [1, 2, 3, 4]), Errno.EINVAL),
        ["REGION_WRITE count 0"] = new(VfioUserCommand.RegionWrite, Wire.Access(0x3c, Config, 0), Errno.EINVAL),
        ["REGION_WRITE past the end"] = new(VfioUserCommand.RegionWrite, Wire.Access(4095, Config, 2, [1, 2]), Errno.EINVAL),
        ["REGION_WRITE_MULTI wr_cnt 0"] = new(VfioUserCommand.RegionWriteMulti, new byte[8], Errno.EINVAL),
        ["REGION_WRITE_MULTI wr_cnt above its entries"] = new(VfioUserCommand.RegionWriteMulti, [2, 0, 0, 0, 0, 0, 0, 0, .. new byte[24]], Errno.EINVAL),
        ["REGION_WRITE_MULTI entry count 9"] = new(VfioUserCommand.RegionWriteMulti, MultiOne(new RegionWriteMultiEntry(0x3c, Config, 9, 0)), Errno.EINVAL),
        ["REGION_WRITE_MULTI entry out of range"] = new(VfioUserCommand.RegionWriteMulti, MultiOne(new RegionWriteMultiEntry(4094, Config, 4, 0)), Errno.EINVAL),
        ["DEVICE_FEATURE (none implemented)"] = new(VfioUserCommand.DeviceFeature, new byte[8], Errno.ENOTSUP),

        // Commands.
        ["command 0"] = new(0, [], Errno.ENOSYS),
        ["DIRTY_PAGES (removed)"] = new(VfioUserCommand.DirtyPages, new byte[16], Errno.ENOSYS),
        ["MIG_DATA_READ"] = new(VfioUserCommand.MigDataRead, new byte[8], Errno.ENOSYS),
        ["MIG_DATA_WRITE"] = new(VfioUserCommand.MigDataWrite, new byte[8], Errno.ENOSYS),
        ["DMA_READ from the client"] = new(VfioUserCommand.DmaRead, new byte[16], Errno.ENOSYS),
        ["DMA_WRITE from the client"] = new(VfioUserCommand.DmaWrite, new byte[16], Errno.ENOSYS),
        ["command 99"] = new((VfioUserCommand)99, new byte[4], Errno.ENOSYS),
        ["command 0xffff"] = new((VfioUserCommand)0xFFFF, [], Errno.ENOSYS),
        ["VERSION twice"] = new(VfioUserCommand.Version, Wire.QemuVersion(), Errno.EINVAL),

        // DMA_MAP / DMA_UNMAP.
        ["DMA_MAP with 2 fds"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x1000, 0x1000), Errno.EINVAL, Fds: 2),
        ["DMA_MAP flags 0"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(0, 0, 0x1000, 0x1000), Errno.EINVAL),
        ["DMA_MAP unknown flag 0x4"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.R | 0x4, 0, 0x1000, 0x1000), Errno.EINVAL),
        ["DMA_MAP unknown flag 0x80000000"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw | 0x8000_0000, 0, 0x1000, 0x1000), Errno.EINVAL),
        ["DMA_MAP size 0"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x1000, 0), Errno.EINVAL),
        ["DMA_MAP wrapping range"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, ulong.MaxValue - 0xfff, 0x2000), Errno.EINVAL),
        ["DMA_MAP wrapping fd offset"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, ulong.MaxValue - 0xfff, 0x1000, 0x2000), Errno.EINVAL, Fds: 1),
        ["DMA_MAP of an fd that cannot be mapped"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x1000, 0x1000), Errno.EINVAL, Fds: -1),
        ["DMA_MAP beyond the end of its fd"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0x1000, 0x1000, 0x10000), Errno.EINVAL, Fds: 1),
        ["DMA_MAP overlapping a mapping"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x11000, 0x2000), Errno.EEXIST,
            Setup: h => h.Client.DmaMap(0x10000, 0x2000, DmaMapFlags.ReadWrite)),
        ["DMA_MAP inside a mapping"] = new(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x10800, 0x100), Errno.EEXIST,
            Setup: h => h.Client.DmaMap(0x10000, 0x2000, DmaMapFlags.ReadWrite)),
        ["DMA_UNMAP of an empty range"] = new(VfioUserCommand.DmaUnmap, Wire.DmaUnmap(0x40000, 0), Errno.EINVAL),
        ["DMA_UNMAP that cuts through a mapping"] = new(VfioUserCommand.DmaUnmap, Wire.DmaUnmap(0x10000, 0x1000), Errno.EINVAL,
            Setup: h => h.Client.DmaMap(0x10000, 0x2000, DmaMapFlags.ReadWrite)),
        ["DMA_UNMAP with the dirty-bitmap flag"] = new(VfioUserCommand.DmaUnmap, Wire.DmaUnmap(0x10000, 0x2000, flags: 1), Errno.ENOTSUP,
            Setup: h => h.Client.DmaMap(0x10000, 0x2000, DmaMapFlags.ReadWrite)),
        ["DMA_UNMAP unknown flag 0x4"] = new(VfioUserCommand.DmaUnmap, Wire.DmaUnmap(0x10000, 0x2000, flags: 4), Errno.EINVAL),
        ["DMA_UNMAP all with a range"] = new(VfioUserCommand.DmaUnmap, Wire.DmaUnmap(0x10000, 0x2000, flags: 2), Errno.EINVAL),

        // SET_IRQS.
        ["SET_IRQS two data types"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x23, MsixIndex, 0, 1), Errno.EINVAL),
        ["SET_IRQS two actions"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x19, MsixIndex, 0, 1), Errno.EINVAL),
        ["SET_IRQS no action"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x01, MsixIndex, 0, 1), Errno.EINVAL),
        ["SET_IRQS no data type"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x20, MsixIndex, 0, 1), Errno.EINVAL),
        ["SET_IRQS unknown flag"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x61, MsixIndex, 0, 1), Errno.EINVAL),
        ["SET_IRQS index 5"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x21, 5, 0, 1), Errno.EINVAL),
        ["SET_IRQS start+count beyond the vectors"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x29, MsixIndex, 3, 2), Errno.EINVAL),
        ["SET_IRQS start+count overflows"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x29, MsixIndex, -1, 2), Errno.EINVAL),
        ["SET_IRQS fewer fds than vectors"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, MsixIndex, 0, 2), Errno.EINVAL, Fds: 1),
        ["SET_IRQS more fds than vectors"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, MsixIndex, 0, 1), Errno.EINVAL, Fds: 2),
        ["SET_IRQS fds with DATA_NONE"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x21, MsixIndex, 0, 1), Errno.EINVAL, Fds: 1),
        ["SET_IRQS fds with DATA_BOOL"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x22, MsixIndex, 0, 1, [1]), Errno.EINVAL, Fds: 1),
        ["SET_IRQS count 0 with MASK"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x09, MsixIndex, 0, 0), Errno.EINVAL),
        ["SET_IRQS count 0 from start 1"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x21, MsixIndex, 1, 0), Errno.EINVAL),
        ["SET_IRQS MASK|EVENTFD"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x0C, MsixIndex, 0, 1), Errno.ENOTSUP, Fds: 1),
        ["SET_IRQS UNMASK|EVENTFD on MSI-X"] = new(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x14, MsixIndex, 0, 1), Errno.ENOTSUP, Fds: 1),

        // Fds where none belong.
        ["REGION_READ with an fd"] = new(VfioUserCommand.RegionRead, Wire.Access(0, Config, 4), Errno.EINVAL, Fds: 1),
        ["DEVICE_GET_INFO with fds"] = new(VfioUserCommand.DeviceGetInfo, Wire.DeviceInfo(), Errno.EINVAL, Fds: 3),
    };

    public static TheoryData<string, TransportKind> AllCases()
    {
        var data = new TheoryData<string, TransportKind>();
        foreach (var name in Cases.Keys)
        {
            data.Add(name, TransportKind.InMemory);
            data.Add(name, TransportKind.SocketPair);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void Malformed_request_gets_its_errno_and_the_connection_stays_usable(string name, TransportKind kind)
    {
        var c = Cases[name];
        using var h = ServerHarness.Start(kind);
        c.Setup?.Invoke(h);
        int mappings = h.Function.DmaMappings.Count;
        var fds = MakeFds(c.Fds);
        try
        {
            Expect.Errno(h.Client.Call(c.Command, c.Payload, fds), c.Errno, name);
        }
        finally
        {
            foreach (var fd in fds)
            {
                fd.Dispose();
            }
        }

        h.Function.DmaMappings.Count.Should().Be(mappings, "a refused request changes nothing");
        AssertUsable(h);
    }

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Unmap_all_flag_is_accepted(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        h.Client.DmaMap(0x10000, 0x1000, DmaMapFlags.ReadWrite);
        h.Client.DmaMap(0x20000, 0x1000, DmaMapFlags.Read);
        h.Client.DmaUnmap(0, 0, VfioConstants.DmaUnmapFlagAll).Flags.Should().Be(VfioConstants.DmaUnmapFlagAll);
        h.Function.DmaMappings.Count.Should().Be(0);
        AssertUsable(h);
    }

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Requests_before_version_are_refused_then_version_works(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind, negotiate: false);
        Expect.Errno(h.Client.Call(VfioUserCommand.DeviceGetInfo, Wire.DeviceInfo()), Errno.EINVAL, "before VERSION");
        Expect.Errno(h.Client.Call(VfioUserCommand.RegionRead, Wire.Access(0, Config, 4)), Errno.EINVAL, "before VERSION");
        Expect.Errno(h.Client.Call(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x1000, 0x1000)), Errno.EINVAL, "before VERSION");
        h.Function.DmaMappings.Count.Should().Be(0);
        h.Client.Negotiate();
        AssertUsable(h);
    }

    [Theory]
    [InlineData("bad JSON", 0, "{\"capabilities\": {", true, Errno.EINVAL)]
    [InlineData("JSON not NUL-terminated", 0, "{\"capabilities\": {}}", false, Errno.EINVAL)]
    [InlineData("JSON not an object", 0, "[1, 2]", true, Errno.EINVAL)]
    [InlineData("capabilities not an object", 0, "{\"capabilities\": 3}", true, Errno.EINVAL)]
    [InlineData("negative max_msg_fds", 0, "{\"capabilities\": {\"max_msg_fds\": -1}}", true, Errno.EINVAL)]
    [InlineData("major 1", 1, null, true, Errno.ENOTSUP)]
    [InlineData("major 0xffff", 0xFFFF, "{}", true, Errno.ENOTSUP)]
    public void Bad_version_is_refused_and_a_good_one_still_works(string name, int major, string? json, bool nul, int errno)
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair, negotiate: false);
        var payload = Wire.Version((ushort)major, 0, json);
        if (!nul)
        {
            payload = payload[..^1];
        }

        Expect.Errno(h.Client.Call(VfioUserCommand.Version, payload), errno, name);
        h.Client.Negotiate().Major.Should().Be(0);
        AssertUsable(h);
    }

    [Fact]
    public void Unknown_message_type_is_refused()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        Expect.Errno(h.Client.Call(VfioUserCommand.DeviceGetInfo, Wire.DeviceInfo(), default, (VfioUserFlags)0x2), Errno.EINVAL);
        AssertUsable(h);
    }

    [Fact]
    public void Stray_reply_from_the_client_is_ignored()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        h.Client.SendRaw(Wire.Message(77, VfioUserCommand.DmaRead, new byte[24], VfioUserFlags.Reply));
        AssertUsable(h);
        h.Logs.Contains(1103).Should().BeTrue();
    }

    [Fact]
    public void Oversized_message_gets_e2big_its_body_is_skipped_and_the_next_request_works()
    {
        var options = new VfioUserServerOptions { MaxDataTransferSize = 64 * 1024 };
        using var h = ServerHarness.Start(TransportKind.SocketPair, options);
        var data = new byte[options.MaxMessageSize]; // header + payload exceeds the limit by 32 bytes
        data.AsSpan().Fill(0x5A);
        var payload = Wire.Access(0, Config, data.Length, data);
        Expect.Errno(h.Client.Call(VfioUserCommand.RegionWrite, payload), Errno.E2BIG);
        AssertUsable(h);
        h.Logs.Contains(1101).Should().BeTrue();
    }

    [Fact]
    public void Header_declaring_a_huge_size_is_answered_e2big_without_buffering()
    {
        var options = new VfioUserServerOptions { MaxDataTransferSize = 64 * 1024 };
        using var h = ServerHarness.Start(TransportKind.SocketPair, options);
        var header = Wire.Message(5, VfioUserCommand.RegionWrite, [], size: 0x7FFF_FFFF);
        h.Client.SendRaw(header);
        using var reply = h.Client.Receive(ServerHarness.Bound);
        reply.Id.Should().Be(5);
        Expect.Errno(reply, Errno.E2BIG);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public void Message_size_below_16_ends_the_session_cleanly(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        using var ram = MemFd.Create("ram", 0x10000);
        h.Client.DmaMap(0, 0x10000, DmaMapFlags.ReadWrite, ram);
        h.Client.SendRaw(Wire.Message(9, VfioUserCommand.DeviceGetInfo, [], size: 8));
        bool received = h.Client.TryReceive(out var message, ServerHarness.Bound);
        using (message)
        {
            received.Should().BeFalse("the server closes the connection");
            message.Should().BeNull();
        }

        h.WaitForSessionEnd().Should().BeTrue();
        h.Function.DmaMappings.Count.Should().Be(0);
        h.Device.ResetsSoFar().Should().Contain(ResetKind.ClientLost);
        h.Logs.Contains(1102).Should().BeTrue("the fatal stream error is logged");
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public void Truncated_message_then_eof_ends_the_session_and_releases_everything(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        using var ram = MemFd.Create("ram", 0x10000);
        using var irq = EventFd.Create();
        h.Client.DmaMap(0, 0x10000, DmaMapFlags.ReadWrite, ram);
        h.Client.SetIrqEventFds(0, 0, [irq]);
        var whole = Wire.Message(9, VfioUserCommand.RegionRead, Wire.Access(0, Config, 4));
        h.Client.SendRaw(whole.AsSpan(0, 20));
        h.Client.Dispose();
        h.WaitForSessionEnd().Should().BeTrue();
        h.Function.DmaMappings.Count.Should().Be(0);
        h.Function.Interrupts.HasSignal(Pci.Interrupts.IrqIndex.Intx, 0).Should().BeFalse();
        h.Device.ResetsSoFar().Should().Contain(ResetKind.ClientLost);
    }

    [Fact]
    public void More_fds_than_max_msg_fds_are_truncated_by_the_kernel_and_refused()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        var fds = MakeFds(h.Options.MaxFdsPerMessage + 1);
        try
        {
            Expect.Errno(h.Client.Call(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, MsixIndex, 0, fds.Length), fds), Errno.EINVAL);
        }
        finally
        {
            foreach (var fd in fds)
            {
                fd.Dispose();
            }
        }

        h.Logs.Contains(1105).Should().BeTrue("MSG_CTRUNC is reported");
        AssertUsable(h);
    }

    internal static void AssertUsable(ServerHarness h)
    {
        var info = h.Client.GetDeviceInfo();
        info.NumRegions.Should().Be(9, "the connection is still usable");
        h.Client.ReadUInt16(Config, 0).Should().Be(0x1b36);
    }

    /// <summary>
    /// n fds: the first a 16 KiB memfd, the rest eventfds. −1: one eventfd, an fd that cannot back a DMA mapping.
    /// If one cannot be made, those made before it are closed.
    /// </summary>
    private static SafeHandle[] MakeFds(int n)
    {
        var fds = new SafeHandle[n == -1 ? 1 : n];
        try
        {
            for (int i = 0; i < fds.Length; i++)
            {
                fds[i] = i == 0 && n != -1 ? MemFd.Create("map", 0x4000) : EventFd.Create();
            }

            return fds;
        }
        catch
        {
            foreach (var fd in fds)
            {
                fd?.Dispose();
            }

            throw;
        }
    }

    private static byte[] MultiOne(RegionWriteMultiEntry entry)
    {
        var p = new byte[8 + RegionWriteMultiEntry.Length];
        p[0] = 1;
        entry.WriteTo(p.AsSpan(8));
        return p;
    }
}
