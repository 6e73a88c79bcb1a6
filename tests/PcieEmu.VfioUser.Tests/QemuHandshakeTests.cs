using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;
using PcieEmu.Pci;
using PcieEmu.Pci.Interrupts;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// The cold-plug sequence QEMU 11.1 sends (qemu-vfio-user-client.md §2, rows 1–17), replayed byte for byte with
/// the raw client API, checking each reply exactly as QEMU's receive buffers require (§4).
/// </summary>
public sealed class QemuHandshakeTests
{
    private const ulong RamSize = 512UL << 20;
    private const int Config = VfioRegion.Config;

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public void Cold_plug_sequence_is_answered_as_qemu_requires(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind, negotiate: false);
        var c = h.Client;
        var dev = h.Device;
        using var ram = MemFd.Create("guest-ram", (long)RamSize, sealSize: true); // QEMU seals its memfd RAM
        using var ramView = MemoryMapping.Map(ram, 0, RamSize, writable: true);

        // 1. VERSION: 214 bytes; the reply fits QEMU's 214-byte buffer and ends its JSON in a NUL.
        var versionPayload = Wire.QemuVersion();
        (MessageHeader.Length + versionPayload.Length).Should().Be(214);
        using (var v = c.Call(VfioUserCommand.Version, versionPayload))
        {
            v.IsError.Should().BeFalse();
            v.Header.Flags.Should().Be(VfioUserFlags.Reply);
            v.Size.Should().BeLessThanOrEqualTo(214);
            VersionMessage.TryRead(v.Payload, out ushort major, out ushort minor, out var json).Should().BeTrue();
            (major, minor).Should().Be(((ushort)0, (ushort)0));
            json.Length.Should().BeGreaterThan(0);
            json[^1].Should().Be(0, "QEMU: corrupt version reply otherwise");
            VersionCapabilities.TryParse(json, out var caps, out string? error).Should().BeTrue(error);
            caps.MaxMsgFds.Should().BeInRange(1, 16, "QEMU rejects max_msg_fds > 16");
            caps.MaxDataTransferSize.Should().BeInRange(1, 64 << 20);
            (caps.PageSizes % 4096).Should().Be(0);
            caps.MaxDmaMaps.Should().BeLessThanOrEqualTo(65535, "QEMU: max_dma_maps can only be lowered");
            Encoding.UTF8.GetString(json[..^1]).Should().NotContain("write_multiple", "not advertised by default");
        }

        // 2. Two DMA_MAPs back to back before any reply: RAM with a memfd, the BIOS ROM without.
        ushort map1 = c.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0, RamSize), [ram]);
        ushort map2 = c.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.R, 0, 0xfffc0000, 0x40000));
        ExpectReply(c, map1, VfioUserCommand.DmaMap, 16);
        ExpectReply(c, map2, VfioUserCommand.DmaMap, 16);
        h.Function.DmaMappings.Mappings.Select(m => (m.Iova, m.Size, m.BackingKind)).Should().Equal(
            (0UL, RamSize, "mmap"), (0xfffc0000UL, 0x40000UL, "message"));

        // 3. DEVICE_GET_INFO: 32-byte reply, RESET|PCI, 9 regions, 5 IRQ types.
        using (var info = Expect.Ok(c.Call(VfioUserCommand.DeviceGetInfo, Wire.DeviceInfo()), 32))
        {
            DeviceInfo.TryRead(info.Payload, out var di).Should().BeTrue();
            di.Should().Be(new DeviceInfo(16, 0x3, 9, 5));
        }

        // 4. GET_REGION_INFO 0,1,2,3,4,5,7 with argsz 32: 48-byte replies; unused BARs are size 0, flags 0.
        var expected = new Dictionary<int, (ulong Size, uint Flags)>
        {
            [0] = (TestDevice.RegsSize, 0x3),
            [1] = (0, 0), // upper half of the 64-bit BAR0
            [2] = (TestDevice.MsixBarSize, 0x3),
            [3] = (0, 0),
            [4] = (TestDevice.ShmSize, 0x7), // R|W|MMAP, no CAPS in the truncated reply
            [5] = (0, 0), // upper half of the 64-bit BAR4
            [7] = (4096, 0x3),
        };
        foreach (var (index, (size, flags)) in expected)
        {
            using var r = Expect.Ok(c.Call(VfioUserCommand.DeviceGetRegionInfo, Wire.RegionInfo(index)), 48, $"region {index}");
            r.FdCount.Should().Be(0, "no fd in a 48-byte reply, even for the mmappable BAR");
            RegionInfo.TryRead(r.Payload, out var ri).Should().BeTrue();
            ri.Index.Should().Be((uint)index);
            ri.Size.Should().Be(size, $"region {index}");
            ri.Flags.Should().Be(flags, $"region {index}");
            ri.Argsz.Should().Be(index == TestDevice.ShmBar ? 80u : 32u, "argsz = what the full reply needs");
            ri.CapOffset.Should().Be(0u);
        }

        // 4b. QEMU asks again for BAR4 with argsz 80: 96 bytes, CAPS, sparse areas, and exactly one fd.
        using (var r = Expect.Ok(c.Call(VfioUserCommand.DeviceGetRegionInfo, Wire.RegionInfo(TestDevice.ShmBar, 80)), 96))
        {
            RegionInfo.TryRead(r.Payload, out var ri).Should().BeTrue();
            ri.Should().Be(new RegionInfo(80, 0xF, 4, 0x20, TestDevice.ShmSize, 0));
            var cap = r.Payload.AsSpan(0x20);
            BinaryPrimitives.ReadUInt16LittleEndian(cap).Should().Be(1, "VFIO_REGION_INFO_CAP_SPARSE_MMAP");
            BinaryPrimitives.ReadUInt16LittleEndian(cap[2..]).Should().Be(1, "version 1");
            BinaryPrimitives.ReadUInt32LittleEndian(cap[4..]).Should().Be(0u, "last capability");
            BinaryPrimitives.ReadUInt32LittleEndian(cap[8..]).Should().Be(2u);
            BinaryPrimitives.ReadUInt64LittleEndian(cap[16..]).Should().Be(0UL);
            BinaryPrimitives.ReadUInt64LittleEndian(cap[24..]).Should().Be(0x1000UL);
            BinaryPrimitives.ReadUInt64LittleEndian(cap[32..]).Should().Be(0x2000UL);
            BinaryPrimitives.ReadUInt64LittleEndian(cap[40..]).Should().Be(0x1000UL);
            r.FdCount.Should().Be(1);
            using var fd = r.TakeFd(0);
            AssertSharesMemory(fd, h.Function, TestDevice.ShmBar);
        }

        // 5. GET_IRQ_INFO ERR: EVENTFD, count 1.
        using (var r = Expect.Ok(c.Call(VfioUserCommand.DeviceGetIrqInfo, Wire.IrqInfo(3)), 32))
        {
            IrqInfo.TryRead(r.Payload, out var ii).Should().BeTrue();
            ii.Should().Be(new IrqInfo(16, VfioConstants.IrqInfoEventfd, 3, 1));
        }

        // 6. The whole 4 KiB config region in one REGION_READ: 32 + 4096 bytes.
        using (var r = Expect.Ok(c.Call(VfioUserCommand.RegionRead, Wire.Access(0, Config, 4096)), 32 + 4096))
        {
            RegionAccess.TryRead(r.Payload, out var echo).Should().BeTrue();
            echo.Should().Be(new RegionAccess(0, Config, 4096));
            r.Payload.AsSpan(16).ToArray().Should().Equal(h.Function.Config.Bytes.ToArray());
            BinaryPrimitives.ReadUInt16LittleEndian(r.Payload.AsSpan(16)).Should().Be(0x1b36);
        }

        // 7. ROM BAR sizing (no ROM: reads 0, writes ignored).
        ConfigRead32(c, 0x30).Should().Be(0u);
        ConfigWrite(c, 0x30, Wire.U32(0xfffff800));
        ConfigRead32(c, 0x30).Should().Be(0u);
        ConfigWrite(c, 0x30, Wire.U32(0));

        // 8. Each BAR register, and sizing of BAR0 (64-bit memory, 4 KiB).
        ConfigRead32(c, 0x10).Should().Be(0x4u, "64-bit, non-prefetchable memory");
        ConfigRead32(c, 0x18).Should().Be(0x0u, "32-bit memory");
        ConfigRead32(c, 0x20).Should().Be(0xCu, "64-bit prefetchable memory");
        ConfigWrite(c, 0x10, Wire.U32(0xffffffff));
        ConfigWrite(c, 0x14, Wire.U32(0xffffffff));
        ConfigRead32(c, 0x10).Should().Be(0xFFFFF004u);
        ConfigRead32(c, 0x14).Should().Be(0xFFFFFFFFu);
        ConfigWrite(c, 0x10, Wire.U32(0));
        ConfigWrite(c, 0x14, Wire.U32(0));

        // 8a. MSI-X capability registers, then GET_IRQ_INFO MSIX.
        int msix = dev.MsixCapOffset;
        ConfigRead(c, msix + 2, 2).Should().Equal(Wire.U16(TestDevice.MsixVectors - 1));
        ConfigRead32(c, msix + 4).Should().Be(TestDevice.MsixTableOffset | TestDevice.MsixBar);
        ConfigRead32(c, msix + 8).Should().Be(TestDevice.MsixPbaOffset | TestDevice.MsixBar);
        using (var r = Expect.Ok(c.Call(VfioUserCommand.DeviceGetIrqInfo, Wire.IrqInfo(2)), 32))
        {
            IrqInfo.TryRead(r.Payload, out var ii).Should().BeTrue();
            ii.Count.Should().Be(TestDevice.MsixVectors);
            (ii.Flags & VfioConstants.IrqInfoEventfd).Should().NotBe(0u);
        }

        // 9. INT_PIN twice.
        ConfigRead(c, 0x3d, 1).Should().Equal((byte)1);
        ConfigRead(c, 0x3d, 1).Should().Equal((byte)1);

        // 10/11. INTx and ERR wired with one eventfd each (TRIGGER|EVENTFD = 0x24).
        using var intx = EventFd.Create();
        using var err = EventFd.Create();
        ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, 0, 0, 1), [intx]), VfioUserCommand.DeviceSetIrqs, 16);
        ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, 3, 0, 1), [err]), VfioUserCommand.DeviceSetIrqs, 16);
        h.Function.Interrupts.HasSignal(IrqIndex.Intx, 0).Should().BeTrue();
        h.Function.Interrupts.HasSignal(IrqIndex.Err, 0).Should().BeTrue();
        h.Function.Interrupts.SignalError();
        EventFd.Drain(err).Should().Be(1UL, "ERR reaches the client's eventfd");

        // Machine reset, rows 12–17. system_reset runs it twice (QMP reset, then SeaBIOS's reboot): the second
        // DMA_UNMAP burst names the maps the first one made (notes §9).
        var maps = new List<(ulong Iova, ulong Size)> { (0, RamSize) };
        for (int reset = 1; reset <= 2; reset++)
        {
            maps = MachineReset(h, ram, ramView, intx, maps, reset);
        }

        // Nothing stray is queued: the next reply is the next request's.
        c.GetDeviceInfo().NumRegions.Should().Be(9);
        h.Connection.Statistics.ErrorReplies.Should().Be(0);
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public void Typed_client_negotiates_and_reads_region_info_with_the_argsz_retry(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind, negotiate: false);
        var reply = h.Client.Negotiate();
        reply.ReplySize.Should().BeLessThanOrEqualTo(214);
        (reply.Major, reply.Minor).Should().Be(((ushort)0, (ushort)0));
        reply.Json.Should().StartWith("{\"capabilities\":");
        h.Client.ServerCapabilities.MaxMsgFds.Should().Be(h.Options.MaxFdsPerMessage);
        h.Client.ServerCapabilities.MaxDataTransferSize.Should().Be(h.Options.MaxDataTransferSize);
        h.Connection.ClientCapabilities.MaxMsgFds.Should().Be(16);
        h.Connection.ClientCapabilities.WriteMultiple.Should().BeTrue();

        using var shm = h.Client.GetRegionInfo(TestDevice.ShmBar);
        shm.Requests.Should().Be(2);
        shm.ReplySize.Should().Be(96);
        shm.Flags.Should().Be(0xFu);
        shm.SparseAreas.Should().Equal(new SparseArea(0, 0x1000), new SparseArea(0x2000, 0x1000));
        shm.Fd.Should().NotBeNull();
        AssertSharesMemory(shm.Fd!, h.Function, TestDevice.ShmBar);

        using var regs = h.Client.GetRegionInfo(TestDevice.RegsBar);
        regs.Requests.Should().Be(1);
        regs.Fd.Should().BeNull();
        regs.SparseAreas.Should().BeEmpty();
        (regs.Readable, regs.Writable, regs.Mmappable).Should().Be((true, true, false));
    }

    /// <summary>Rows 12–17 of the handshake: the machine-reset sequence QEMU sends (TCG flavour).</summary>
    private static List<(ulong Iova, ulong Size)> MachineReset(ServerHarness h, SafeFileHandle ram, MemoryMapping ramView, SafeFileHandle intx,
        List<(ulong Iova, ulong Size)> maps, int round)
    {
        var c = h.Client;
        var dev = h.Device;
        int resetsBefore = dev.ResetsSoFar().Count(r => r == ResetKind.DeviceReset);

        // Device state that DEVICE_RESET must undo.
        c.WriteUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister, 0xdeadbeef);
        ConfigWrite(c, 0x3c, [0x0a]);
        ConfigWrite(c, 0x04, Wire.U16(0x0106));
        h.Function.Bars[TestDevice.ShmBar]!.Memory!.TryWrite(0x10, [1, 2, 3]).Should().BeTrue();

        // 12. INTx 0x21 (TRIGGER|NONE) count 0 = disable.
        ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x21, 0, 0, 0)), VfioUserCommand.DeviceSetIrqs, 16);
        h.Function.Interrupts.HasSignal(IrqIndex.Intx, 0).Should().BeFalse();

        // 13. COMMAND read, written back with IO/MEM/BM cleared.
        ushort command = BinaryPrimitives.ReadUInt16LittleEndian(ConfigRead(c, 0x04, 2));
        command.Should().Be(0x0106);
        ConfigWrite(c, 0x04, Wire.U16((ushort)(command & ~0x7)));

        // 14. DEVICE_RESET: 16-byte reply; the device is back at power-on state; DMA maps are kept.
        int mapsBefore = h.Function.DmaMappings.Count;
        ExpectReply(c, c.Send(VfioUserCommand.DeviceReset, []), VfioUserCommand.DeviceReset, 16);
        dev.ResetsSoFar().Count(r => r == ResetKind.DeviceReset).Should().Be(resetsBefore + 1);
        c.ReadUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister).Should().Be(0u);
        c.ReadUInt32(TestDevice.RegsBar, TestDevice.IdRegister).Should().Be(TestDevice.IdValue);
        ConfigRead(c, 0x3c, 1).Should().Equal((byte)0);
        ConfigRead(c, 0x04, 2).Should().Equal(0, 0);
        var shm = new byte[3];
        h.Function.Bars[TestDevice.ShmBar]!.Memory!.TryRead(0x10, shm).Should().BeTrue();
        shm.Should().Equal(0, 0, 0);
        h.Function.DmaMappings.Count.Should().Be(mapsBefore, "DMA maps survive DEVICE_RESET");

        // 15. INT_PIN, INTx re-armed.
        ConfigRead(c, 0x3d, 1).Should().Equal((byte)1);
        ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, 0, 0, 1), [intx]), VfioUserCommand.DeviceSetIrqs, 16);
        h.Function.Interrupts.HasSignal(IrqIndex.Intx, 0).Should().BeTrue();

        // 16. BAR0..BAR5 written 0: 32-byte replies.
        for (int bar = 0; bar < 6; bar++)
        {
            ExpectReply(c, c.Send(VfioUserCommand.RegionWrite, Wire.Access(0x10 + (ulong)(4 * bar), Config, 4, Wire.U32(0))), VfioUserCommand.RegionWrite, 32);
        }

        // 17. DMA_UNMAP of the previous maps + four DMA_MAPs, pipelined; processed strictly in order (the first new
        //     map overlaps an old one, so it only succeeds if the unmaps ran first).
        string pattern = $"0x100000 window, reset {round}";
        ramView.TryWrite(0x101234, Encoding.ASCII.GetBytes(pattern)).Should().BeTrue();
        var burst = new List<(ushort Id, VfioUserCommand Command, int Size, byte[] Echo)>();
        foreach (var (iova, size) in maps)
        {
            var unmap = Wire.DmaUnmap(iova, size);
            burst.Add((c.Send(VfioUserCommand.DmaUnmap, unmap), VfioUserCommand.DmaUnmap, 40, unmap));
        }

        var remap = new List<(ulong Iova, ulong Size)> { (0, 0xc0000), (0xc0000, 0x20000), (0xe0000, 0x20000), (0x100000, RamSize - 0x100000) };
        burst.Add((c.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0, 0xc0000), [ram]), VfioUserCommand.DmaMap, 16, []));
        burst.Add((c.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.R, 0, 0xc0000, 0x20000)), VfioUserCommand.DmaMap, 16, []));
        burst.Add((c.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.R, 0, 0xe0000, 0x20000)), VfioUserCommand.DmaMap, 16, []));
        burst.Add((c.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0x100000, 0x100000, RamSize - 0x100000), [ram]), VfioUserCommand.DmaMap, 16, []));
        foreach (var (id, command17, size, echo) in burst)
        {
            using var r = c.Receive(ServerHarness.Bound);
            r.Id.Should().Be(id, "replies come in request order");
            r.Command.Should().Be(command17);
            Expect.Ok(r, size, $"{command17} id {id}");
            if (command17 == VfioUserCommand.DmaUnmap)
            {
                r.Payload.Should().Equal(echo, "the reply echoes the 24-byte request");
            }
        }

        h.Function.DmaMappings.Mappings.Select(m => (m.Iova, m.Size)).Should().Equal(
            (0UL, 0xc0000UL), (0xc0000UL, 0x20000UL), (0xe0000UL, 0x20000UL), (0x100000UL, RamSize - 0x100000), (0xfffc0000UL, 0x40000UL));
        var seen = new byte[pattern.Length];
        h.Function.DmaMappings.Read(0x101234, seen).Should().Be(Pci.Dma.DmaResult.Ok);
        Encoding.ASCII.GetString(seen).Should().Be(pattern, "fd offset 0x100000 maps guest address 0x100000");
        return remap;
    }

    internal static void ExpectReply(VfioUserClient c, ushort id, VfioUserCommand command, int size)
    {
        using var r = c.ReceiveReply(id, command, ServerHarness.Bound);
        Expect.Ok(r, size, $"{command} id {id}");
        r.FdCount.Should().Be(0);
    }

    internal static byte[] ConfigRead(VfioUserClient c, int offset, int count)
    {
        using var r = Expect.Ok(c.Call(VfioUserCommand.RegionRead, Wire.Access((ulong)offset, Config, count)), 32 + count, $"config read 0x{offset:x}/{count}");
        return r.Payload.AsSpan(16).ToArray();
    }

    internal static uint ConfigRead32(VfioUserClient c, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(ConfigRead(c, offset, 4));

    internal static void ConfigWrite(VfioUserClient c, int offset, byte[] data)
    {
        using var r = Expect.Ok(c.Call(VfioUserCommand.RegionWrite, Wire.Access((ulong)offset, Config, data.Length, data)), 32, $"config write 0x{offset:x}");
        r.Payload.Should().Equal(Wire.Access((ulong)offset, Config, data.Length), "the reply echoes offset, region, count without data");
    }

    /// <summary>The region fd maps the same pages the device uses: writes show through both ways.</summary>
    internal static void AssertSharesMemory(SafeFileHandle fd, PciFunction function, int bar)
    {
        var memory = function.Bars[bar]!.Memory!;
        using var view = MemoryMapping.Map(fd, 0, memory.Size, writable: true);
        view.TryWrite(0x2010, [0xA5, 0x5A]).Should().BeTrue();
        var seen = new byte[2];
        memory.TryRead(0x2010, seen).Should().BeTrue();
        seen.Should().Equal(0xA5, 0x5A);
        memory.TryWrite(0x30, [0x42]).Should().BeTrue();
        view.TryRead(0x30, seen.AsSpan(0, 1)).Should().BeTrue();
        seen[0].Should().Be(0x42);
        memory.TryWrite(0x2010, [0, 0]);
        memory.TryWrite(0x30, [0]);
    }
}
