using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;
using PcieEmu.Pci.Interrupts;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Server;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>notes §8: eventfd wiring, MSI-X chunking, masking and the server-owned PBA, INTx auto-mask.</summary>
public sealed class InterruptTests
{
    private const int Msix = (int)IrqIndex.Msix;
    private const int Intx = (int)IrqIndex.Intx;

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public void Msix_vectors_are_wired_in_chunks_of_max_msg_fds_and_raise_their_eventfd(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind, new VfioUserServerOptions { MaxFdsPerMessage = 2 });
        var fds = EventFds(TestDevice.MsixVectors);
        try
        {
            h.Client.ServerCapabilities.MaxMsgFds.Should().Be(2);
            h.Client.SetIrqEventFds(Msix, 0, fds).Should().Be(2, "4 eventfds at 2 per message");
            h.Connection.Statistics.Commands(VfioUserCommand.DeviceSetIrqs).Should().Be(2);
            for (int v = 0; v < TestDevice.MsixVectors; v++)
            {
                h.Function.Interrupts.HasSignal(IrqIndex.Msix, v).Should().BeTrue();
            }

            EnableMsix(h);
            h.Function.Interrupts.Mode.Should().Be(InterruptMode.Msix);
            for (int v = 0; v < TestDevice.MsixVectors; v++)
            {
                h.Function.Interrupts.Raise(v).Should().Be(InterruptOutcome.Delivered);
                for (int other = 0; other < TestDevice.MsixVectors; other++)
                {
                    EventFd.Drain(fds[other]).Should().Be(other == v ? 1UL : 0UL, $"raising vector {v}");
                }
            }
        }
        finally
        {
            Dispose(fds);
        }
    }

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Masked_msix_vector_sets_its_pba_bit_and_fires_on_unmask(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        var fds = EventFds(TestDevice.MsixVectors);
        try
        {
            h.Client.SetIrqEventFds(Msix, 0, fds).Should().Be(1);
            EnableMsix(h);
            ReadPba(h).Should().Be(0UL);

            h.Client.SetIrqsNone(Msix, IrqAction.Mask, 1, 1);
            h.Function.Interrupts.IsClientMasked(IrqIndex.Msix, 1).Should().BeTrue();
            h.Function.Interrupts.Raise(1).Should().Be(InterruptOutcome.Pending);
            EventFd.Drain(fds[1]).Should().Be(0UL, "masked");
            ReadPba(h).Should().Be(0b10UL, "PBA reads are forwarded to the server, which owns the pending bits");

            h.Client.SetIrqsNone(Msix, IrqAction.Unmask, 1, 1);
            EventFd.Drain(fds[1]).Should().Be(1UL, "the pending vector fires on unmask");
            ReadPba(h).Should().Be(0UL);

            // DATA_BOOL selects vectors: mask 0 and 3 only.
            h.Client.SetIrqsBool(Msix, IrqAction.Mask, 0, [true, false, false, true]);
            h.Function.Interrupts.Raise(0).Should().Be(InterruptOutcome.Pending);
            h.Function.Interrupts.Raise(2).Should().Be(InterruptOutcome.Delivered);
            h.Function.Interrupts.Raise(3).Should().Be(InterruptOutcome.Pending);
            ReadPba(h).Should().Be(0b1001UL);
            EventFd.Drain(fds[2]).Should().Be(1UL);
            h.Client.SetIrqsBool(Msix, IrqAction.Unmask, 0, [true, true, true, true]);
            EventFd.Drain(fds[0]).Should().Be(1UL);
            EventFd.Drain(fds[3]).Should().Be(1UL);
            ReadPba(h).Should().Be(0UL);

            // PBA writes are dropped (read-only).
            h.Client.WriteUInt64(TestDevice.MsixBar, TestDevice.MsixPbaOffset, ulong.MaxValue);
            ReadPba(h).Should().Be(0UL);
        }
        finally
        {
            Dispose(fds);
        }
    }

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Intx_is_auto_masked_and_unmask_resignals_while_asserted(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        using var intx = EventFd.Create();
        var info = h.Client.GetIrqInfo(Intx);
        info.Count.Should().Be(1u);
        (info.Flags & (VfioConstants.IrqInfoEventfd | VfioConstants.IrqInfoMaskable | VfioConstants.IrqInfoAutomasked))
            .Should().Be(VfioConstants.IrqInfoEventfd | VfioConstants.IrqInfoMaskable | VfioConstants.IrqInfoAutomasked);
        h.Client.SetIrqEventFds(Intx, 0, [intx]);

        h.Function.Interrupts.SetIntxLevel(true);
        EventFd.Drain(intx).Should().Be(1UL);
        h.Function.Interrupts.SetIntxLevel(true);
        EventFd.Drain(intx).Should().Be(0UL, "auto-masked until the client unmasks");
        (QemuHandshakeTests.ConfigRead(h.Client, 0x06, 2)[0] & 0x08).Should().Be(0x08, "Status.Interrupt_Status follows the level");

        h.Client.SetIrqsNone(Intx, IrqAction.Unmask, 0, 1);
        EventFd.Drain(intx).Should().Be(1UL, "still asserted at unmask (EOI): signalled again");

        h.Function.Interrupts.SetIntxLevel(false);
        h.Client.SetIrqsNone(Intx, IrqAction.Unmask, 0, 1);
        EventFd.Drain(intx).Should().Be(0UL, "deasserted: unmask does not signal");

        // Client MASK holds off a new assertion until UNMASK.
        h.Client.SetIrqsNone(Intx, IrqAction.Mask, 0, 1);
        h.Function.Interrupts.SetIntxLevel(true);
        EventFd.Drain(intx).Should().Be(0UL);
        h.Client.SetIrqsNone(Intx, IrqAction.Unmask, 0, 1);
        EventFd.Drain(intx).Should().Be(1UL);

        // 0x21 count 0 disables; then nothing is signalled.
        h.Client.DisableIrqs(Intx);
        h.Function.Interrupts.HasSignal(IrqIndex.Intx, 0).Should().BeFalse();
    }

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Kvm_intx_sequence_with_a_resample_fd_is_accepted_and_the_resample_unmasks(TransportKind kind)
    {
        using var h = ServerHarness.Start(kind);
        var c = h.Client;
        using var trigger = EventFd.Create();
        using var resample = EventFd.Create();

        // Realize under KVM (notes §8): 0x24 + fd, 0x09, 0x14 + resample fd, 0x11; each a 16-byte reply.
        QemuHandshakeTests.ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, Intx, 0, 1), [trigger]), VfioUserCommand.DeviceSetIrqs, 16);
        QemuHandshakeTests.ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x09, Intx, 0, 1)), VfioUserCommand.DeviceSetIrqs, 16);
        QemuHandshakeTests.ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x14, Intx, 0, 1), [resample]), VfioUserCommand.DeviceSetIrqs, 16);
        QemuHandshakeTests.ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x11, Intx, 0, 1)), VfioUserCommand.DeviceSetIrqs, 16);

        h.Function.Interrupts.SetIntxLevel(true);
        EventFd.Drain(trigger).Should().Be(1UL);

        // KVM signals the resample fd when the guest EOIs: the server unmasks and, still asserted, signals again.
        EventFd.Signal(resample);
        SpinWait.SpinUntil(() => EventFd.Drain(trigger) == 1, ServerHarness.Bound).Should().BeTrue("the resample re-signalled the asserted line");
        h.Function.Interrupts.SetIntxLevel(false);
        EventFd.Signal(resample);
        Thread.Sleep(50);
        EventFd.Drain(trigger).Should().Be(0UL, "deasserted: the resample unmasks without a signal");

        // Pre-reset under KVM: 0x09, 0x11, then 0x21 count 0.
        QemuHandshakeTests.ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x09, Intx, 0, 1)), VfioUserCommand.DeviceSetIrqs, 16);
        QemuHandshakeTests.ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x11, Intx, 0, 1)), VfioUserCommand.DeviceSetIrqs, 16);
        QemuHandshakeTests.ExpectReply(c, c.Send(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x21, Intx, 0, 0)), VfioUserCommand.DeviceSetIrqs, 16);
        h.Function.Interrupts.HasSignal(IrqIndex.Intx, 0).Should().BeFalse();
    }

    [Fact]
    public void Client_trigger_and_deassign_work_on_err_and_req()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var err = EventFd.Create();
        using var req = EventFd.Create();
        h.Client.SetIrqEventFds((int)IrqIndex.Err, 0, [err]);
        h.Client.SetIrqEventFds((int)IrqIndex.Req, 0, [req]);
        h.Client.SetIrqsNone((int)IrqIndex.Err, IrqAction.Trigger, 0, 1);
        EventFd.Drain(err).Should().Be(1UL, "DATA_NONE|TRIGGER injects");
        h.Function.Interrupts.SignalRequest();
        EventFd.Drain(req).Should().Be(1UL);

        // QEMU's unplug: ERR 0x24 count 1 with no fd = de-assign.
        h.Client.DeassignIrqs((int)IrqIndex.Err, 0, 1);
        h.Function.Interrupts.HasSignal(IrqIndex.Err, 0).Should().BeFalse();
        h.Function.Interrupts.SignalError();
        EventFd.Drain(err).Should().Be(0UL);
    }

    /// <summary>What a driver does: memory decode and bus mastering on (MSI-X messages are memory writes), then MSI-X enable.</summary>
    internal static void EnableMsix(ServerHarness h)
    {
        QemuHandshakeTests.ConfigWrite(h.Client, 0x04, Wire.U16(0x0006));
        int control = h.Device.MsixCapOffset + 2;
        ushort value = BinaryPrimitives.ReadUInt16LittleEndian(QemuHandshakeTests.ConfigRead(h.Client, control, 2));
        QemuHandshakeTests.ConfigWrite(h.Client, control, Wire.U16((ushort)(value | 0x8000)));
    }

    private static ulong ReadPba(ServerHarness h) => h.Client.ReadUInt64(TestDevice.MsixBar, TestDevice.MsixPbaOffset);

    private static SafeFileHandle[] EventFds(int n) => Enumerable.Range(0, n).Select(_ => EventFd.Create()).ToArray();

    private static void Dispose(SafeFileHandle[] fds)
    {
        foreach (var fd in fds)
        {
            fd.Dispose();
        }
    }
}
