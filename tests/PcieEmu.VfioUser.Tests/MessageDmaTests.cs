using System.Buffers.Binary;
using System.Diagnostics;
using PcieEmu.Pci.Dma;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Server;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// notes §6.1: a mapping without fd is reached by server→client DMA_READ/DMA_WRITE on the one socket, in the layout
/// the QEMU 11.1.3 binary uses (commit 18ddc73: address u64, count u64, data at message byte 32, 32 + count bytes;
/// DMA_WRITE answered with a bare header). The test client plays QEMU with a byte-array guest memory.
/// </summary>
public sealed class MessageDmaTests
{
    private const ulong GuestBase = 0x10000;
    private const int GuestSize = 0x10000;

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public void Device_dma_read_goes_out_as_a_qemu_dma_read_and_the_socket_keeps_serving_meanwhile(TransportKind kind)
    {
        var memory = Guest();
        using var h = Start(kind, memory);
        Pattern(memory, 0x100, 64);

        var buffer = new byte[64];
        var worker = Worker<DmaResult>.Start(() => h.Function.Dma.Read(GuestBase + 0x100, buffer));

        using (var request = h.Client.Receive(ServerHarness.Bound))
        {
            request.Command.Should().Be(VfioUserCommand.DmaRead);
            request.Header.Type.Should().Be(VfioUserFlags.Command);
            request.Size.Should().Be(32, "sizeof(VFIOUserDMARW) with no data");
            BinaryPrimitives.ReadUInt64LittleEndian(request.Payload).Should().Be(GuestBase + 0x100);
            BinaryPrimitives.ReadUInt64LittleEndian(request.Payload.AsSpan(8)).Should().Be(64UL, "count at payload 8");
            request.FdCount.Should().Be(0);

            // The DMA request is outstanding; other requests are still answered.
            h.Client.ReadUInt32(TestDevice.RegsBar, TestDevice.IdRegister).Should().Be(TestDevice.IdValue);
            worker.IsCompleted.Should().BeFalse();

            h.Client.AnswerServerRequest(request);
        }

        worker.Wait().Should().Be(DmaResult.Ok);
        buffer.Should().Equal(memory.Memory.AsSpan(0x100, 64).ToArray());
        h.Client.DmaReadsServed.Should().Be(1);
    }

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Device_dma_write_carries_its_data_at_byte_32_and_gets_a_bare_header_reply(TransportKind kind)
    {
        var memory = Guest();
        using var h = Start(kind, memory);
        byte[] data = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        var worker = Worker<DmaResult>.Start(() => h.Function.Dma.Write(GuestBase + 0x40, data));

        using (var request = h.Client.Receive(ServerHarness.Bound))
        {
            request.Command.Should().Be(VfioUserCommand.DmaWrite);
            request.Size.Should().Be(32 + data.Length);
            BinaryPrimitives.ReadUInt64LittleEndian(request.Payload).Should().Be(GuestBase + 0x40);
            BinaryPrimitives.ReadUInt64LittleEndian(request.Payload.AsSpan(8)).Should().Be((ulong)data.Length);
            request.Payload.AsSpan(32 - 16, data.Length).ToArray().Should().Equal(data, "QEMU 11.1.3 reads the data at message byte 32");
            h.Client.AnswerServerRequest(request);
        }

        worker.Wait().Should().Be(DmaResult.Ok);
        memory.Memory.AsSpan(0x40, data.Length).ToArray().Should().Equal(data);
    }

    [Theory]
    [InlineData(DmaWriteReply.BareHeader)]
    [InlineData(DmaWriteReply.Echo)]
    public void Typed_client_answers_dma_inline_in_either_layout(DmaWriteReply layout)
    {
        var memory = Guest();
        using var h = Start(TransportKind.SocketPair, memory, layout);
        Pattern(memory, 0, 4096);

        var buffer = new byte[4096];
        var reader = Worker<DmaResult>.Start(() => h.Function.Dma.Read(GuestBase, buffer));
        h.Client.ServeServerRequests(1, ServerHarness.Bound);
        reader.Wait().Should().Be(DmaResult.Ok);
        buffer.Should().Equal(memory.Memory.AsSpan(0, 4096).ToArray());

        var writer = Worker<DmaResult>.Start(() => h.Function.Dma.Write(GuestBase + 0x8000, buffer.AsSpan(0, 100)));

        // Served while the client waits for an unrelated reply, as QEMU's main loop would.
        SpinUntil(() => h.Connection.RequestsSentToClient >= 2);
        h.Client.GetDeviceInfo();
        writer.Wait().Should().Be(DmaResult.Ok);
        memory.Memory.AsSpan(0x8000, 100).ToArray().Should().Equal(buffer.AsSpan(0, 100).ToArray());
    }

    [Fact]
    public void Transfers_bigger_than_the_clients_max_data_xfer_size_are_chunked()
    {
        var memory = Guest();
        var clientOptions = new VfioUserClientOptions
        {
            GuestMemory = memory,
            VersionJson = "{\"capabilities\": {\"max_msg_fds\": 16, \"max_data_xfer_size\": 4096}}",
        };
        using var h = Start(TransportKind.SocketPair, memory, clientOptions: clientOptions);
        h.Connection.ClientCapabilities.MaxDataTransferSize.Should().Be(4096);
        Pattern(memory, 0, 10000);

        var buffer = new byte[10000];
        var worker = Worker<DmaResult>.Start(() => h.Function.Dma.Read(GuestBase, buffer));
        var counts = new List<ulong>();
        for (int i = 0; i < 3; i++)
        {
            using var request = h.Client.Receive(ServerHarness.Bound);
            request.Command.Should().Be(VfioUserCommand.DmaRead);
            BinaryPrimitives.ReadUInt64LittleEndian(request.Payload).Should().Be(GuestBase + (ulong)(4096 * i));
            counts.Add(BinaryPrimitives.ReadUInt64LittleEndian(request.Payload.AsSpan(8)));
            h.Client.AnswerServerRequest(request);
        }

        worker.Wait().Should().Be(DmaResult.Ok);
        counts.Should().Equal(4096UL, 4096UL, 1808UL);
        buffer.Should().Equal(memory.Memory.AsSpan(0, 10000).ToArray());

        var write = Worker<DmaResult>.Start(() => h.Function.Dma.Write(GuestBase + 0x4000, buffer.AsSpan(0, 5000)));
        h.Client.ServeServerRequests(2, ServerHarness.Bound);
        write.Wait().Should().Be(DmaResult.Ok);
        h.Client.DmaWritesServed.Should().Be(2);
    }

    [Fact]
    public void Client_error_reply_becomes_transport_error()
    {
        var memory = Guest();
        using var h = Start(TransportKind.SocketPair, memory);

        // A window mapped without fd that the client's guest memory does not back: the client answers EFAULT.
        h.Client.DmaMap(0x100000, 0x1000, DmaMapFlags.ReadWrite);
        var buffer = new byte[16];
        var worker = Worker<DmaResult>.Start(() => h.Function.Dma.Read(0x100000, buffer));
        h.Client.ServeServerRequests(1, ServerHarness.Bound);
        worker.Wait().Should().Be(DmaResult.TransportError);
        h.Logs.Contains(1303).Should().BeTrue("the client's errno is logged");

        // The connection is still fine.
        h.Client.GetDeviceInfo().NumIrqs.Should().Be(5);
    }

    [Fact]
    public void Unanswered_dma_times_out_and_a_late_reply_is_ignored()
    {
        var memory = Guest();
        using var h = Start(TransportKind.SocketPair, memory, serverOptions: new VfioUserServerOptions { ClientReplyTimeout = TimeSpan.FromMilliseconds(300) });
        var buffer = new byte[8];
        var sw = Stopwatch.StartNew();
        var result = Worker<DmaResult>.Start(() => h.Function.Dma.Read(GuestBase, buffer));
        result.Wait().Should().Be(DmaResult.TransportError);
        sw.Elapsed.Should().BeGreaterThan(TimeSpan.FromMilliseconds(250)).And.BeLessThan(TimeSpan.FromSeconds(3));

        using (var late = h.Client.Receive(ServerHarness.Bound))
        {
            late.Command.Should().Be(VfioUserCommand.DmaRead);
            h.Client.AnswerServerRequest(late);
        }

        h.Client.GetDeviceInfo().NumRegions.Should().Be(9, "the late reply was dropped and the stream is intact");
        h.Logs.Contains(1103).Should().BeTrue("the late reply is logged as unexpected");
        h.Logs.Contains(1302).Should().BeTrue("the timeout is logged");
    }

    [Theory]
    [MemberData(nameof(Transports.InMemoryAndSocket), MemberType = typeof(Transports))]
    public void Unmap_while_a_dma_request_is_pending_does_not_deadlock(TransportKind kind)
    {
        var memory = Guest();
        var replyTimeout = TimeSpan.FromMinutes(2); // far beyond any scheduling delay: waiting for it is unmistakable
        using var h = Start(kind, memory, serverOptions: new VfioUserServerOptions { ClientReplyTimeout = replyTimeout });
        var buffer = new byte[32];
        var worker = Worker<DmaResult>.Start(() => h.Function.Dma.Read(GuestBase + 0x20, buffer));
        using var pending = h.Client.Receive(ServerHarness.Bound);
        pending.Command.Should().Be(VfioUserCommand.DmaRead);

        var sw = Stopwatch.StartNew();
        h.Client.DmaUnmap(GuestBase, GuestSize);
        sw.Elapsed.Should().BeLessThan(replyTimeout / 4, "the unmap revokes the pending request instead of waiting for it");
        worker.Wait().Should().Be(DmaResult.Unmapped);
        h.Function.DmaMappings.Count.Should().Be(0);

        h.Client.AnswerServerRequest(pending); // too late: ignored by the server
        h.Client.ReadUInt32(TestDevice.RegsBar, TestDevice.IdRegister).Should().Be(TestDevice.IdValue);
        h.Function.Dma.Read(GuestBase, buffer).Should().Be(DmaResult.Unmapped);
    }

    [Fact]
    public void Dma_to_a_message_mapping_is_refused_while_bus_mastering_is_off()
    {
        var memory = Guest();
        using var h = Start(TransportKind.SocketPair, memory, enableBusMaster: false);
        h.Function.Dma.Read(GuestBase, new byte[4]).Should().Be(DmaResult.BusMasterDisabled);
        h.Connection.RequestsSentToClient.Should().Be(0);
    }

    private static ArrayGuestMemory Guest() => new(GuestBase, new byte[GuestSize]);

    private static void Pattern(ArrayGuestMemory memory, int offset, int length)
    {
        for (int i = 0; i < length; i++)
        {
            memory.Memory[offset + i] = (byte)((i * 7) + 3);
        }
    }

    private static ServerHarness Start(TransportKind kind, ArrayGuestMemory memory, DmaWriteReply layout = DmaWriteReply.BareHeader,
        VfioUserServerOptions? serverOptions = null, VfioUserClientOptions? clientOptions = null, bool enableBusMaster = true)
    {
        var server = (serverOptions ?? new VfioUserServerOptions()) with { MessageDma = true };
        var client = (clientOptions ?? new VfioUserClientOptions()) with { GuestMemory = memory, DmaWriteReply = layout };
        var h = ServerHarness.Start(kind, server, client);
        try
        {
            h.Client.DmaMap(GuestBase, GuestSize, DmaMapFlags.ReadWrite);
            if (enableBusMaster)
            {
                h.Client.WriteUInt16(VfioRegion.Config, 0x04, 0x0006); // MEM | BUS_MASTER
            }

            return h;
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    private static void SpinUntil(Func<bool> condition)
    {
        SpinWait.SpinUntil(condition, ServerHarness.Bound).Should().BeTrue();
    }
}
