using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;
using PcieEmu.Pci.Interrupts;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// SCM_RIGHTS fds ride on the first byte of their sendmsg, and a recvmsg stops after a chunk that carried fds, so
/// the fds of a chunk belong to the last message that starts in it. Here a whole burst is queued before the server
/// reads a byte, so its reads span several messages; every fd must still land on its own message.
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
