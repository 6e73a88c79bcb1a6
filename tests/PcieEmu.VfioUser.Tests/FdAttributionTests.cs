using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;
using PcieEmu.Pci.Interrupts;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// A Linux AF_UNIX stream recvmsg stops right after the skb (one sendmsg's bytes) that carried SCM_RIGHTS fds, so the
/// fds one receive returns belong to the message holding the last byte it returned. The server reads header and body
/// with one receive and keeps the bytes of the next pipelined messages buffered; every fd must still land on its
/// own message: in a queued burst (reads spanning several messages), when a message's header came in an earlier
/// read, when a message is split over several reads, and when several messages precede the fd-carrying one.
/// </summary>
public sealed class FdAttributionTests
{
    private sealed record Step(string Name, VfioUserCommand Command, byte[] Payload, SafeHandle[] Fds, int ReplySize);

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Every_fd_lands_on_its_own_message_in_a_pipelined_burst(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind, negotiate: false, startServer: false);
        using var memB = Filled("B", 0xB0);
        using var memC = Filled("C", 0xC0);
        using var memD = Filled("D", 0xD0);
        SafeHandle[] msix = [.. Enumerable.Range(0, TestDevice.MsixVectors).Select(_ => EventFd.Create())];
        using var err = EventFd.Create();
        try
        {
            var steps = new List<Step>
            {
                new("VERSION", VfioUserCommand.Version, Wire.QemuVersion(), [], -1),
                new("map A, no fd", VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x100000, 0x4000), [], 16),
                new("map B, fd", VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x200000, 0x4000), [memB], 16),
                new("GET_INFO", VfioUserCommand.DeviceGetInfo, Wire.DeviceInfo(), [], 32),
                new("map C, fd", VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0x1000, 0x300000, 0x3000), [memC], 16),
                new("map D, fd", VfioUserCommand.DmaMap, Wire.DmaMap(Wire.R, 0, 0x400000, 0x4000), [memD], 16),
                new("map E, no fd", VfioUserCommand.DmaMap, Wire.DmaMap(Wire.R, 0, 0x500000, 0x1000), [], 16),
                new("MSI-X eventfds", VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, 2, 0, msix.Length), msix, 16),
                new("config read", VfioUserCommand.RegionRead, Wire.Access(0, VfioRegion.Config, 4), [], 36),
                new("ERR eventfd", VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, 3, 0, 1), [err], 16),
                new("map F, fd on the last message", VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x600000, 0x1000), [memB], 16),
            };
            var ids = steps.Select(s => h.Client.Send(s.Command, s.Payload, s.Fds)).ToList();
            h.StartServer(); // the server now finds the whole burst queued

            for (int i = 0; i < steps.Count; i++)
            {
                using var r = h.Client.Receive(ServerHarness.Bound);
                r.Id.Should().Be(ids[i], steps[i].Name);
                r.IsError.Should().BeFalse($"{steps[i].Name}: {r}");
                if (steps[i].ReplySize > 0)
                {
                    r.Size.Should().Be(steps[i].ReplySize, steps[i].Name);
                }
            }

            if (kind == TransportKind.SocketPair)
            {
                h.Connection.ReceiveCalls.Should().BeLessThan(steps.Count, "the server's reads spanned several queued messages");
            }

            h.Function.DmaMappings.Mappings.Select(m => (m.Iova, m.BackingKind)).Should().Equal(
                (0x100000UL, "message"), (0x200000UL, "mmap"), (0x300000UL, "mmap"), (0x400000UL, "mmap"), (0x500000UL, "message"), (0x600000UL, "mmap"));
            ReadByte(h, 0x200000).Should().Be(0xB0);
            ReadByte(h, 0x300000).Should().Be(0xC1, "map C starts at fd offset 0x1000");
            ReadByte(h, 0x400000).Should().Be(0xD0);
            ReadByte(h, 0x600000).Should().Be(0xB0);

            InterruptTests.EnableMsix(h);
            for (int v = 0; v < msix.Length; v++)
            {
                h.Function.Interrupts.Raise(v).Should().Be(InterruptOutcome.Delivered);
                for (int other = 0; other < msix.Length; other++)
                {
                    EventFd.Drain(msix[other]).Should().Be(other == v ? 1UL : 0UL, $"vector {v} has its own eventfd");
                }
            }

            h.Function.Interrupts.SignalError();
            EventFd.Drain(err).Should().Be(1UL);
            h.Logs.Contains(1110).Should().BeFalse("no fd was orphaned");
        }
        finally
        {
            foreach (var fd in msix)
            {
                fd.Dispose();
            }
        }
    }

    [Fact]
    public void Fd_on_the_first_of_two_back_to_back_messages_stays_with_the_first()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair, startServer: false, negotiate: false);
        using var mem = Filled("first", 0x11);
        ushort v = h.Client.Send(VfioUserCommand.Version, Wire.QemuVersion());
        ushort a = h.Client.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x10000, 0x4000), [mem]);
        ushort b = h.Client.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x20000, 0x4000));
        h.StartServer();
        foreach (var id in new[] { v, a, b })
        {
            using var r = h.Client.Receive(ServerHarness.Bound);
            r.Id.Should().Be(id);
            r.IsError.Should().BeFalse(r.ToString());
        }

        h.Function.DmaMappings.Mappings.Select(m => m.BackingKind).Should().Equal("mmap", "message");
        ReadByte(h, 0x10000).Should().Be(0x11);
    }

    [Fact]
    public void Fds_on_a_refused_message_in_a_burst_do_not_leak_onto_the_next()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair, startServer: false, negotiate: false);
        using var stray = EventFd.Create();
        ushort v = h.Client.Send(VfioUserCommand.Version, Wire.QemuVersion());
        ushort read = h.Client.Send(VfioUserCommand.RegionRead, Wire.Access(0, VfioRegion.Config, 4), [stray]);
        ushort map = h.Client.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x10000, 0x1000));
        h.StartServer();
        using (var r = h.Client.Receive(ServerHarness.Bound))
        {
            r.Id.Should().Be(v);
            r.IsError.Should().BeFalse();
        }

        using (var r = h.Client.Receive(ServerHarness.Bound))
        {
            r.Id.Should().Be(read);
            Expect.Errno(r, Errno.EINVAL);
        }

        using (var r = h.Client.Receive(ServerHarness.Bound))
        {
            r.Id.Should().Be(map);
            Expect.Ok(r, 16);
        }

        h.Function.DmaMappings.Mappings.Single().BackingKind.Should().Be("message", "the stray fd was not attributed to the map");
    }

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Fd_sent_with_the_body_belongs_to_the_message_whose_header_came_in_an_earlier_read(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        using var mem = Filled("late", 0x42);
        var message = Wire.Message(0x77, VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x10000, 0x4000));
        long reads = h.Connection.ReceiveCalls;
        h.Client.SendRaw(message.AsSpan(0, MessageHeader.Length));
        WaitForReceives(h, reads + 1); // the server holds the header alone
        h.Client.SendRaw(message.AsSpan(MessageHeader.Length), [mem]);

        using (var r = h.Client.Receive(ServerHarness.Bound))
        {
            r.Id.Should().Be(0x77);
            Expect.Ok(r, 16);
        }

        h.Function.DmaMappings.Mappings.Single().BackingKind.Should().Be("mmap", "the fd came with bytes of this message");
        ReadByte(h, 0x10000).Should().Be(0x42);
        h.Logs.Contains(1110).Should().BeFalse("no fd was dropped");
    }

    [Theory]
    [InlineData(TransportKind.InMemory, 0)]
    [InlineData(TransportKind.InMemory, 1)]
    [InlineData(TransportKind.InMemory, 2)]
    [InlineData(TransportKind.SocketPair, 0)]
    [InlineData(TransportKind.SocketPair, 1)]
    [InlineData(TransportKind.SocketPair, 2)]
    public void A_message_split_over_three_reads_gets_its_fd_whichever_piece_carried_it(TransportKind kind, int fdPiece)
    {
        using var h = ServerHarness.Start(kind);
        using var mem = Filled("split", 0x24);
        var message = Wire.Message(0x99, VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0x1000, 0x20000, 0x2000));
        (int Start, int End)[] pieces = [(0, 10), (10, 30), (30, message.Length)]; // half a header, the rest of it and some body, the end
        long reads = h.Connection.ReceiveCalls;
        for (int i = 0; i < pieces.Length; i++)
        {
            h.Client.SendRaw(message.AsSpan(pieces[i].Start, pieces[i].End - pieces[i].Start), i == fdPiece ? [mem] : []);
            if (i < pieces.Length - 1)
            {
                WaitForReceives(h, reads + i + 1); // each piece is a read of its own
            }
        }

        using (var r = h.Client.Receive(ServerHarness.Bound))
        {
            r.Id.Should().Be(0x99);
            Expect.Ok(r, 16);
        }

        h.Function.DmaMappings.Mappings.Single().BackingKind.Should().Be("mmap");
        ReadByte(h, 0x20000).Should().Be(0x25, "the map starts at fd offset 0x1000");
        h.Logs.Contains(1110).Should().BeFalse();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Pipelined_messages_and_a_final_fd_carrying_one_come_in_one_read_and_only_the_last_gets_the_fd(bool ioUring)
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair, new Server.VfioUserServerOptions { BatchReplyWithReceive = ioUring },
            startServer: false, negotiate: false);
        using var mem = Filled("last", 0x5C);
        ushort v = h.Client.Send(VfioUserCommand.Version, Wire.QemuVersion());
        ushort info = h.Client.Send(VfioUserCommand.DeviceGetInfo, Wire.DeviceInfo());
        ushort read = h.Client.Send(VfioUserCommand.RegionRead, Wire.Access(0, VfioRegion.Config, 4));
        ushort noFd = h.Client.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x10000, 0x1000));
        ushort map = h.Client.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x20000, 0x4000), [mem]);
        h.StartServer();

        foreach (var (id, size) in new[] { (v, -1), (info, 32), (read, 36), (noFd, 16), (map, 16) })
        {
            using var r = h.Client.Receive(ServerHarness.Bound);
            r.Id.Should().Be(id);
            r.IsError.Should().BeFalse(r.ToString());
            if (size > 0)
            {
                r.Size.Should().Be(size);
            }
        }

        h.Connection.ReceiveCalls.Should().Be(1, "the kernel returned the four fd-less messages and the fd-carrying one together");
        h.Function.DmaMappings.Mappings.Select(m => (m.Iova, m.BackingKind)).Should().Equal((0x10000UL, "message"), (0x20000UL, "mmap"));
        ReadByte(h, 0x20000).Should().Be(0x5C);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_read_stops_after_the_fd_carrying_message_and_the_messages_after_it_get_no_fd(bool ioUring)
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair, new Server.VfioUserServerOptions { BatchReplyWithReceive = ioUring },
            startServer: false, negotiate: false);
        using var mem = Filled("middle", 0x6D);
        ushort v = h.Client.Send(VfioUserCommand.Version, Wire.QemuVersion());
        ushort map = h.Client.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x10000, 0x4000), [mem]);
        ushort after1 = h.Client.Send(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x20000, 0x1000));
        ushort after2 = h.Client.Send(VfioUserCommand.RegionRead, Wire.Access(0, VfioRegion.Config, 4));
        h.StartServer();

        foreach (var id in new[] { v, map, after1, after2 })
        {
            using var r = h.Client.Receive(ServerHarness.Bound);
            r.Id.Should().Be(id);
            r.IsError.Should().BeFalse(r.ToString());
        }

        h.Connection.ReceiveCalls.Should().Be(2, "the first read stopped after the fd-carrying DMA_MAP; the second took the rest");
        h.Function.DmaMappings.Mappings.Select(m => m.BackingKind).Should().Equal("mmap", "message");
    }

    [Fact]
    public void Fds_from_two_reads_that_both_end_inside_one_message_all_belong_to_it_in_order()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var a = EventFd.Create();
        using var b = EventFd.Create();
        var message = Wire.Message(0x55, VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, 2, 0, 2));
        long reads = h.Connection.ReceiveCalls;
        h.Client.SendRaw(message.AsSpan(0, 20), [a]);
        WaitForReceives(h, reads + 1);
        h.Client.SendRaw(message.AsSpan(20), [b]);
        using (var r = h.Client.Receive(ServerHarness.Bound))
        {
            r.Id.Should().Be(0x55);
            Expect.Ok(r, 16);
        }

        InterruptTests.EnableMsix(h);
        h.Function.Interrupts.Raise(1).Should().Be(InterruptOutcome.Delivered);
        EventFd.Drain(a).Should().Be(0UL);
        EventFd.Drain(b).Should().Be(1UL, "vector 1 got the second fd");
    }

    [Fact]
    public void Fd_that_comes_with_the_body_of_an_oversized_message_is_closed_and_the_next_request_works()
    {
        var options = new Server.VfioUserServerOptions { MaxDataTransferSize = 64 * 1024 };
        using var h = ServerHarness.Start(TransportKind.SocketPair, options);
        var (sent, watch) = SocketPairs.Create();
        using (watch)
        {
            var body = new byte[options.MaxMessageSize];
            var header = Wire.Message(0x44, VfioUserCommand.RegionWrite, [], size: (uint)(MessageHeader.Length + body.Length));
            long reads = h.Connection.ReceiveCalls;
            h.Client.SendRaw(header);
            using (var r = h.Client.Receive(ServerHarness.Bound))
            {
                r.Id.Should().Be(0x44);
                Expect.Errno(r, Errno.E2BIG);
            }

            WaitForReceives(h, reads + 1);
            using (sent)
            {
                h.Client.SendRaw(body, [sent.SafeHandle]);
            }

            MalformedInputTests.AssertUsable(h);
            watch.ReceiveTimeout = (int)ServerHarness.Bound.TotalMilliseconds;
            watch.Receive(new byte[1]).Should().Be(0, "the server closed its copy of the fd: the peer sees end of stream");
            h.Logs.Contains(1110).Should().BeTrue("the dropped fd is logged");
        }
    }

    private static void WaitForReceives(ServerHarness h, long count)
    {
        var until = Environment.TickCount64 + (long)ServerHarness.Bound.TotalMilliseconds;
        while (h.Connection.ReceiveCalls < count)
        {
            Environment.TickCount64.Should().BeLessThan(until, $"the server made {count} receives");
            Thread.Sleep(1);
        }
    }

    private static byte ReadByte(ServerHarness h, ulong iova)
    {
        Span<byte> b = stackalloc byte[1];
        h.Function.DmaMappings.Read(iova, b).Should().Be(Pci.Dma.DmaResult.Ok);
        return b[0];
    }

    /// <summary>A 16 KiB memfd whose page n holds the byte <paramref name="value"/> + n.</summary>
    private static SafeFileHandle Filled(string name, byte value)
    {
        var fd = MemFd.Create(name, 0x4000, sealSize: true); // like QEMU's RAM: plain mmap copies
        using var view = MemoryMapping.Map(fd, 0, 0x4000, writable: true);
        for (int page = 0; page < 4; page++)
        {
            var data = new byte[0x1000];
            data.AsSpan().Fill((byte)(value + page));
            view.TryWrite((ulong)(page * 0x1000), data);
        }

        return fd;
    }
}
