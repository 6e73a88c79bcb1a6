using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using PcieEmu.Interop;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Tests.Infrastructure;
using PcieEmu.VfioUser.Transport;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// The client against a scripted server that misbehaves on purpose: every violation becomes an exception with a
/// clear message, never a hang; errno replies are exceptions that leave the connection usable. Also the
/// client's answers to server→client requests, byte for byte.
/// </summary>
public sealed class ClientTests
{
    private static readonly string Caps = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}";

    // ------------------------------------------------------------------ VERSION

    [Fact]
    public void Negotiate_sends_qemus_214_byte_version_and_parses_the_reply()
    {
        using var s = new FakeServer();
        var call = s.Run(c => c.Negotiate());
        using (var request = s.NextRequest())
        {
            request.Command.Should().Be(VfioUserCommand.Version);
            request.Size.Should().Be(214);
            request.Id.Should().Be(0, "ids count up from 0 like QEMU's");
            request.Payload.Should().Equal(Wire.QemuVersion());
            s.Reply(request, Wire.Version(0, 0, Caps));
        }

        call.Wait().Should().BeNull();
        s.Client.Negotiated.Should().BeTrue();
        s.Client.ServerCapabilities.MaxMsgFds.Should().Be(8);
    }

    [Theory]
    [InlineData("reply larger than the request", 0, 0, "pad", "larger than")]
    [InlineData("JSON without NUL", 0, 0, "nonul", "corrupt version reply")]
    [InlineData("major 1", 1, 0, null, "incompatible")]
    [InlineData("minor above ours", 0, 3, null, "incompatible")]
    [InlineData("max_msg_fds 64", 0, 0, "{\"capabilities\":{\"max_msg_fds\":64}}", "max_msg_fds")]
    [InlineData("max_data_xfer_size 128 MiB", 0, 0, "{\"capabilities\":{\"max_data_xfer_size\":134217728}}", "max_data_xfer_size")]
    [InlineData("pgsizes 512", 0, 0, "{\"capabilities\":{\"pgsizes\":512}}", "pgsizes")]
    [InlineData("max_dma_maps above 65535", 0, 0, "{\"capabilities\":{\"max_dma_maps\":65536}}", "max_dma_maps")]
    [InlineData("malformed JSON", 0, 0, "{\"capabilities\":", "malformed")]
    [InlineData("capabilities not an object", 0, 0, "{\"capabilities\":[]}", "not an object")]
    public void Bad_version_replies_are_refused_with_a_clear_message(string name, int major, int minor, string? json, string message)
    {
        using var s = new FakeServer();
        var call = s.Run(c => c.Negotiate());
        using (var request = s.NextRequest())
        {
            byte[] payload = json switch
            {
                "pad" => Wire.Version(0, 0, "{\"x\":\"" + new string('a', 300) + "\"}"),
                "nonul" => Wire.Version(0, 0, Caps)[..^1],
                _ => Wire.Version((ushort)major, (ushort)minor, json),
            };
            s.Reply(request, payload);
        }

        call.Wait().Should().BeOfType<VfioUserProtocolException>(name).Which.Message.Should().Contain(message);
        s.Client.BrokenReason.Should().NotBeNull();
        s.Client.Invoking(c => c.GetDeviceInfo()).Should().Throw<VfioUserProtocolException>().WithMessage("*unusable*");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("{\"capabilities\":{\"max_msg_fds\":4,\"twin_socket\":{\"supported\":false},\"future\":1}}")]
    public void Version_reply_without_json_or_with_unknown_keys_is_accepted(string? json)
    {
        using var s = new FakeServer();
        var call = s.Run(c => c.Negotiate());
        using (var request = s.NextRequest())
        {
            s.Reply(request, Wire.Version(0, 0, json));
        }

        call.Wait().Should().BeNull();
        s.Client.ServerCapabilities.MaxMsgFds.Should().Be(json is null ? 1 : 4, "absent: the spec default");
    }

    // ------------------------------------------------------------------ reply validation

    [Fact]
    public void Silent_server_times_out_instead_of_hanging()
    {
        using var s = new FakeServer(new VfioUserClientOptions { ReplyTimeout = TimeSpan.FromMilliseconds(300) });
        var sw = Stopwatch.StartNew();
        var call = s.Run(c => c.GetDeviceInfo());
        using var request = s.NextRequest();
        call.Wait().Should().BeOfType<TimeoutException>().Which.Message.Should().Contain("no message from the server within");
        sw.Elapsed.Should().BeGreaterThan(TimeSpan.FromMilliseconds(250)).And.BeLessThan(TimeSpan.FromSeconds(3));
        s.Client.Invoking(c => c.GetDeviceInfo()).Should().Throw<VfioUserProtocolException>().WithMessage("*unusable*");
    }

    [Fact]
    public void Raw_receive_times_out_too()
    {
        using var s = new FakeServer();
        var sw = Stopwatch.StartNew();
        s.Client.Invoking(c => c.Receive(TimeSpan.FromMilliseconds(200))).Should().Throw<TimeoutException>();
        sw.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void Server_closing_the_connection_is_reported()
    {
        using var s = new FakeServer();
        var call = s.Run(c => c.GetDeviceInfo());
        s.NextRequest().Dispose();
        s.Peer.Dispose();
        call.Wait().Should().BeOfType<VfioUserProtocolException>().Which.Message.Should().Contain("closed the connection");
    }

    public static TheoryData<string, string> BadReplies => new()
    {
        { "wrong id", "does not match" },
        { "wrong command", "does not match" },
        { "unknown type", "unknown message type" },
        { "extra flag bits", "only REPLY" },
        { "error reply with payload", "error reply" },
        { "32-byte GET_INFO reply", "QEMU's buffer is 32" },
        { "no PCI flag", "PCI" },
        { "8 regions too few", "regions" },
        { "unexpected fd", "unexpected fd" },
        { "huge message", "accepts at most" },
    };

    [Theory]
    [MemberData(nameof(BadReplies))]
    public void Bad_get_info_replies_are_refused_with_a_clear_message(string name, string message)
    {
        using var s = new FakeServer(negotiated: true);
        var call = s.Run(c => c.GetDeviceInfo());
        using var request = s.NextRequest();
        var good = new byte[16];
        new DeviceInfo(16, 3, 9, 5).WriteTo(good);
        switch (name)
        {
            case "wrong id":
                s.Reply(request, good, id: (ushort)(request.Id + 1));
                break;
            case "wrong command":
                s.Reply(request, good, command: VfioUserCommand.DeviceGetIrqInfo);
                break;
            case "unknown type":
                s.Reply(request, good, flags: (VfioUserFlags)0x3);
                break;
            case "extra flag bits":
                s.Reply(request, good, flags: VfioUserFlags.Reply | (VfioUserFlags)0x100);
                break;
            case "error reply with payload":
                s.Reply(request, good, flags: VfioUserFlags.Reply | VfioUserFlags.Error, error: 22);
                break;
            case "32-byte GET_INFO reply":
                s.Reply(request, [.. good, .. new byte[16]]);
                break;
            case "no PCI flag":
                new DeviceInfo(16, 1, 9, 5).WriteTo(good);
                s.Reply(request, good);
                break;
            case "8 regions too few":
                new DeviceInfo(16, 3, 7, 5).WriteTo(good);
                s.Reply(request, good);
                break;
            case "unexpected fd":
                using (var fd = EventFd.Create())
                {
                    s.Reply(request, good, fds: [fd]);
                }

                break;
            default:
                s.Peer.SendRaw(Wire.Message(request.Id, request.Command, [], VfioUserFlags.Reply, size: 0x7FFF_0000));
                break;
        }

        var error = call.Wait();
        error.Should().BeOfType<VfioUserProtocolException>(name).Which.Message.Should().Contain(message);
    }

    [Fact]
    public void Errno_reply_throws_and_leaves_the_connection_usable()
    {
        using var s = new FakeServer(negotiated: true);
        var call = s.Run(c => c.DmaUnmap(0x1000, 0x1000));
        using (var request = s.NextRequest())
        {
            s.Reply(request, [], flags: VfioUserFlags.Reply | VfioUserFlags.Error, error: Errno.ENOENT);
        }

        var e = call.Wait().Should().BeOfType<VfioUserErrorException>().Which;
        e.Errno.Should().Be(Errno.ENOENT);
        e.Command.Should().Be(VfioUserCommand.DmaUnmap);
        e.Message.Should().Contain("ENOENT");
        s.Client.BrokenReason.Should().BeNull();

        var next = s.Run(c => c.DeviceReset());
        using (var request = s.NextRequest())
        {
            s.Reply(request, []);
        }

        next.Wait().Should().BeNull();
    }

    [Theory]
    [InlineData("wrong offset echoed")]
    [InlineData("more data than asked")]
    [InlineData("size does not match count")]
    public void Bad_region_read_replies_are_refused(string name)
    {
        using var s = new FakeServer(negotiated: true);
        var call = s.Run(c => c.RegionRead(0, 0x10, new byte[4]));
        using (var request = s.NextRequest())
        {
            request.Size.Should().Be(32);
            byte[] reply = name switch
            {
                "wrong offset echoed" => Wire.Access(0x14, 0, 4, new byte[4]),
                "more data than asked" => Wire.Access(0x10, 0, 8, new byte[8]),
                _ => Wire.Access(0x10, 0, 4, new byte[2]),
            };
            s.Reply(request, reply);
        }

        call.Wait().Should().BeOfType<VfioUserProtocolException>(name).Which.Message.Should().Contain("echo");
    }

    [Fact]
    public void Short_region_read_returns_the_count_the_server_gave()
    {
        using var s = new FakeServer(negotiated: true);
        var buffer = new byte[8];
        var call = Worker<int>.Start(() => s.Client.RegionRead(0, 0x10, buffer));
        using (var request = s.NextRequest())
        {
            s.Reply(request, Wire.Access(0x10, 0, 2, [0xAB, 0xCD]));
        }

        call.Wait().Should().Be(2);
        buffer.AsSpan(0, 2).ToArray().Should().Equal(0xAB, 0xCD);
    }

    [Fact]
    public void Posted_write_expects_no_reply_and_a_plain_write_checks_its_echo()
    {
        using var s = new FakeServer(negotiated: true);
        s.Client.RegionWrite(0, 0x20, [1, 2, 3, 4], posted: true);
        using (var posted = s.NextRequest())
        {
            posted.Header.Flags.Should().Be(VfioUserFlags.NoReply);
            posted.Payload.Should().Equal(Wire.Access(0x20, 0, 4, [1, 2, 3, 4]));
        }

        var call = s.Run(c => c.RegionWrite(0, 0x20, [1, 2, 3, 4]));
        using (var request = s.NextRequest())
        {
            s.Reply(request, Wire.Access(0x20, 0, 3));
        }

        call.Wait().Should().BeOfType<VfioUserProtocolException>().Which.Message.Should().Contain("echoing");
    }

    [Fact]
    public void Dma_unmap_reply_must_echo_the_request()
    {
        using var s = new FakeServer(negotiated: true);
        var call = s.Run(c => c.DmaUnmap(0x1000, 0x2000));
        using (var request = s.NextRequest())
        {
            request.Size.Should().Be(40);
            s.Reply(request, []);
        }

        call.Wait().Should().BeOfType<VfioUserProtocolException>().Which.Message.Should().Contain("echoes");
    }

    // ------------------------------------------------------------------ region info

    [Fact]
    public void Region_info_follows_the_argsz_retry_and_parses_sparse_areas()
    {
        using var s = new FakeServer(negotiated: true);
        var call = Worker<RegionDetails>.Start(() => s.Client.GetRegionInfo(1));
        using (var first = s.NextRequest())
        {
            first.Size.Should().Be(48);
            RegionInfo.TryRead(first.Payload, out var ask).Should().BeTrue();
            ask.Argsz.Should().Be(32u);
            s.Reply(first, RegionInfoPayload(new RegionInfo(80, 0x7, 1, 0, 0x4000, 0), []));
        }

        using var fd = MemFd.Create("bar", 0x4000);
        using (var second = s.NextRequest())
        {
            RegionInfo.TryRead(second.Payload, out var ask).Should().BeTrue();
            ask.Argsz.Should().Be(80u);
            s.Reply(second, RegionInfoPayload(new RegionInfo(80, 0xF, 1, 0x20, 0x4000, 0), [(0, 0x1000), (0x2000, 0x1000)]), fds: [fd]);
        }

        using var details = call.Wait();
        details.Requests.Should().Be(2);
        details.SparseAreas.Should().Equal(new SparseArea(0, 0x1000), new SparseArea(0x2000, 0x1000));
        details.Fd.Should().NotBeNull();
        (details.Mmappable, details.Size).Should().Be((true, 0x4000UL));
    }

    [Theory]
    [InlineData("cap chain loops")]
    [InlineData("cap outside the reply")]
    [InlineData("too many areas")]
    [InlineData("argsz grows twice")]
    [InlineData("two fds")]
    [InlineData("wrong index")]
    public void Bad_region_info_is_refused(string name)
    {
        using var s = new FakeServer(negotiated: true);
        var call = s.Run(c => c.GetRegionInfo(4, 96));
        using var fd1 = EventFd.Create();
        using var fd2 = EventFd.Create();
        using (var request = s.NextRequest())
        {
            var payload = RegionInfoPayload(new RegionInfo(80, 0xF, 4, 0x20, 0x4000, 0), [(0, 0x1000), (0x2000, 0x1000)]);
            SafeHandle[] fds = [];
            switch (name)
            {
                case "cap chain loops":
                    BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(0x24), 0x20);
                    break;
                case "cap outside the reply":
                    BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(12), 0x60);
                    break;
                case "too many areas":
                    BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(0x28), 3);
                    break;
                case "argsz grows twice":
                    payload = RegionInfoPayload(new RegionInfo(200, 0x7, 4, 0, 0x4000, 0), []);
                    break;
                case "two fds":
                    fds = [fd1, fd2];
                    break;
                default:
                    BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(8), 5);
                    break;
            }

            s.Reply(request, payload, fds: fds);
        }

        if (name == "argsz grows twice")
        {
            using var again = s.NextRequest();
            RegionInfo.TryRead(again.Payload, out var ask).Should().BeTrue();
            ask.Argsz.Should().Be(200u, "the client asks once more with the argsz the server named");
            s.Reply(again, RegionInfoPayload(new RegionInfo(300, 0x7, 4, 0, 0x4000, 0), []));
        }

        call.Wait().Should().BeOfType<VfioUserProtocolException>(name);
    }

    // ------------------------------------------------------------------ server→client requests

    [Theory]
    [InlineData(DmaWriteReply.BareHeader)]
    [InlineData(DmaWriteReply.Echo)]
    public void Dma_read_and_write_are_answered_byte_for_byte(DmaWriteReply layout)
    {
        var memory = new ArrayGuestMemory(0x1000, new byte[0x1000]);
        memory.Memory[0x10] = 0x77;
        memory.Memory[0x11] = 0x88;
        using var s = new FakeServer(new VfioUserClientOptions { GuestMemory = memory, DmaWriteReply = layout });
        int dataAt = DmaTransfer.DataOffset;

        s.Peer.SendRaw(DmaRequest(layout, 5, VfioUserCommand.DmaRead, 0x1010, 2, []));
        s.Peer.SendRaw(DmaRequest(layout, 6, VfioUserCommand.DmaWrite, 0x1020, 3, [9, 8, 7]));
        s.Client.ServeServerRequests(2, ServerHarness.Bound).Should().Be(2);

        using (var read = s.NextRequest())
        {
            Expect.Ok(read, 32 + 2);
            read.Id.Should().Be(5);
            read.Command.Should().Be(VfioUserCommand.DmaRead);
            BinaryPrimitives.ReadUInt64LittleEndian(read.Payload).Should().Be(0x1010UL);
            BinaryPrimitives.ReadUInt64LittleEndian(read.Payload.AsSpan(8)).Should().Be(2UL);
            read.Payload.AsSpan(dataAt - 16, 2).ToArray().Should().Equal(0x77, 0x88);
        }

        using (var write = s.NextRequest())
        {
            write.Id.Should().Be(6);
            if (layout == DmaWriteReply.BareHeader)
            {
                Expect.Ok(write, 16, "QEMU answers DMA_WRITE with a bare header");
            }
            else
            {
                Expect.Ok(write, 32, "the spec echoes address and count");
                BinaryPrimitives.ReadUInt64LittleEndian(write.Payload).Should().Be(0x1020UL);
                BinaryPrimitives.ReadUInt64LittleEndian(write.Payload.AsSpan(8)).Should().Be(3UL);
            }
        }

        memory.Memory.AsSpan(0x20, 3).ToArray().Should().Equal(9, 8, 7);
        (s.Client.DmaReadsServed, s.Client.DmaWritesServed).Should().Be((1L, 1L));
    }

    [Theory]
    [InlineData("fd attached", Errno.EINVAL)]
    [InlineData("unknown command", Errno.ENOSYS)]
    [InlineData("count above max_data_xfer_size", Errno.E2BIG)]
    [InlineData("short request", Errno.EINVAL)]
    [InlineData("write shorter than its count", Errno.EINVAL)]
    [InlineData("outside guest memory", Errno.EFAULT)]
    [InlineData("write to read-only memory", Errno.EPERM)]
    [InlineData("no guest memory", Errno.ENODEV)]
    public void Bad_server_requests_get_qemus_errno(string name, int errno)
    {
        var memory = new ArrayGuestMemory(0x1000, new byte[0x1000], readOnly: name == "write to read-only memory");
        using var s = new FakeServer(new VfioUserClientOptions { GuestMemory = name == "no guest memory" ? null : memory });
        const DmaWriteReply q = DmaWriteReply.BareHeader;
        using var fd = EventFd.Create();
        switch (name)
        {
            case "fd attached":
                s.Peer.SendRaw(DmaRequest(q, 1, VfioUserCommand.DmaRead, 0x1000, 4, []), [fd]);
                break;
            case "unknown command":
                s.Peer.SendRaw(Wire.Message(1, (VfioUserCommand)99, new byte[16]));
                break;
            case "count above max_data_xfer_size":
                s.Peer.SendRaw(DmaRequest(q, 1, VfioUserCommand.DmaRead, 0x1000, (1 << 20) + 1, []));
                break;
            case "short request":
                s.Peer.SendRaw(Wire.Message(1, VfioUserCommand.DmaRead, new byte[8]));
                break;
            case "write shorter than its count":
                s.Peer.SendRaw(DmaRequest(q, 1, VfioUserCommand.DmaWrite, 0x1000, 4, [1, 2]));
                break;
            case "outside guest memory":
                s.Peer.SendRaw(DmaRequest(q, 1, VfioUserCommand.DmaRead, 0x1ffe, 4, []));
                break;
            default:
                s.Peer.SendRaw(DmaRequest(q, 1, VfioUserCommand.DmaWrite, 0x1000, 4, [1, 2, 3, 4]));
                break;
        }

        s.Client.ServeServerRequests(1, ServerHarness.Bound);
        using var reply = s.NextRequest();
        reply.Id.Should().Be(1);
        Expect.Errno(reply, errno, name);
    }

    [Fact]
    public void Server_requests_arriving_before_a_reply_are_served_inline()
    {
        var memory = new ArrayGuestMemory(0, new byte[64]);
        using var s = new FakeServer(new VfioUserClientOptions { GuestMemory = memory }, negotiated: true);
        var call = s.Run(c => c.DeviceReset());
        using (var request = s.NextRequest())
        {
            s.Peer.SendRaw(DmaRequest(DmaWriteReply.BareHeader, 9, VfioUserCommand.DmaWrite, 0x8, 1, [0x42]));
            using (var dmaReply = s.NextRequest())
            {
                dmaReply.Id.Should().Be(9);
                Expect.Ok(dmaReply, 16);
            }

            s.Reply(request, []);
        }

        call.Wait().Should().BeNull();
        memory.Memory[8].Should().Be(0x42);
    }

    [Fact]
    public void Server_request_while_waiting_is_a_violation_when_serving_is_off()
    {
        using var s = new FakeServer(new VfioUserClientOptions { ServeServerRequestsWhileWaiting = false }, negotiated: true);
        var call = s.Run(c => c.DeviceReset());
        s.NextRequest().Dispose();
        s.Peer.SendRaw(DmaRequest(DmaWriteReply.BareHeader, 9, VfioUserCommand.DmaRead, 0, 1, []));
        call.Wait().Should().BeOfType<VfioUserProtocolException>().Which.Message.Should().Contain("outstanding");
    }

    [Fact]
    public void Reply_while_only_serving_requests_is_a_violation()
    {
        using var s = new FakeServer();
        s.Peer.SendRaw(Wire.Message(3, VfioUserCommand.DeviceReset, [], VfioUserFlags.Reply));
        s.Client.Invoking(c => c.ServeServerRequests(1, ServerHarness.Bound)).Should().Throw<VfioUserProtocolException>().WithMessage("*no request was outstanding*");
    }

    [Fact]
    public void No_reply_server_request_is_not_answered()
    {
        var memory = new ArrayGuestMemory(0, new byte[64]);
        using var s = new FakeServer(new VfioUserClientOptions { GuestMemory = memory });
        var request = DmaRequest(DmaWriteReply.BareHeader, 4, VfioUserCommand.DmaWrite, 0, 1, [7]);
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(8), (uint)VfioUserFlags.NoReply);
        s.Peer.SendRaw(request);
        s.Client.ServeServerRequests(1, ServerHarness.Bound);
        memory.Memory[0].Should().Be(7);
        s.Peer.Send(VfioUserCommand.DeviceReset, []); // the next thing the fake server sees is the client's own traffic
        s.Client.Receive(ServerHarness.Bound).Dispose();
    }

    [Fact]
    public void Set_irq_eventfds_are_chunked_by_the_servers_max_msg_fds()
    {
        using var s = new FakeServer(negotiated: true, serverJson: "{\"capabilities\":{\"max_msg_fds\":3}}");
        SafeHandle[] fds = [.. Enumerable.Range(0, 7).Select(_ => EventFd.Create())];
        try
        {
            var call = Worker<int>.Start(() => s.Client.SetIrqEventFds(2, 0, fds));
            var seen = new List<(uint Start, uint Count, int Fds)>();
            for (int i = 0; i < 3; i++)
            {
                using var request = s.NextRequest();
                request.Size.Should().Be(36);
                IrqSet.TryRead(request.Payload, out var set).Should().BeTrue();
                set.Flags.Should().Be(0x24u);
                set.Argsz.Should().Be(20u);
                seen.Add((set.Start, set.Count, request.FdCount));
                s.Reply(request, []);
            }

            call.Wait().Should().Be(3);
            seen.Should().Equal((0u, 3u, 3), (3u, 3u, 3), (6u, 1u, 1));
        }
        finally
        {
            foreach (var fd in fds)
            {
                fd.Dispose();
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private static byte[] RegionInfoPayload(RegionInfo info, (ulong Offset, ulong Size)[] areas)
    {
        var p = new byte[RegionInfo.Length + (areas.Length > 0 ? SparseMmapCapability.LengthFor(areas.Length) : 0)];
        info.WriteTo(p);
        if (areas.Length > 0)
        {
            SparseMmapCapability.Write(p.AsSpan(RegionInfo.Length), 0, areas);
        }

        return p;
    }

    private static byte[] DmaRequest(DmaWriteReply layout, ushort id, VfioUserCommand command, ulong address, int count, byte[] data)
    {
        var m = new byte[DmaTransfer.MessageSize(data.Length, withData: data.Length > 0)];
        new MessageHeader(id, command, (uint)m.Length, VfioUserFlags.Command, 0).WriteTo(m);
        DmaTransfer.WriteHead(m.AsSpan(16), address, count);
        data.CopyTo(m.AsSpan(DmaTransfer.DataOffset));
        return m;
    }

    /// <summary>
    /// A client under test wired to a scripted server end. The server end is another <see cref="VfioUserClient"/>
    /// used only through its raw API (it sends and receives anything).
    /// </summary>
    private sealed class FakeServer : IDisposable
    {
        public FakeServer(VfioUserClientOptions? options = null, bool negotiated = false, string? serverJson = null)
        {
            var (server, client) = InMemoryTransport.CreatePair();
            Client = new VfioUserClient(client, options ?? new VfioUserClientOptions());
            Peer = new VfioUserClient(server, new VfioUserClientOptions());
            if (negotiated)
            {
                var call = Run(c => c.Negotiate());
                using (var request = NextRequest())
                {
                    Reply(request, Wire.Version(0, 0, serverJson ?? Caps));
                }

                call.Wait().Should().BeNull();
            }
        }

        public VfioUserClient Client { get; }

        public VfioUserClient Peer { get; }

        /// <summary>Runs a client call on its own thread; the result is the exception it threw, or null.</summary>
        public Worker<Exception?> Run(Action<VfioUserClient> action) =>
            Worker<Exception?>.Start(() =>
            {
                try
                {
                    action(Client);
                    return null;
                }
                catch (Exception e)
                {
                    return e;
                }
            });

        public VfioUserMessage NextRequest() => Peer.Receive(ServerHarness.Bound);

        public void Reply(VfioUserMessage request, ReadOnlySpan<byte> payload, VfioUserFlags flags = VfioUserFlags.Reply, int error = 0,
            ushort? id = null, VfioUserCommand? command = null, SafeHandle[]? fds = null)
        {
            var m = new byte[16 + payload.Length];
            new MessageHeader(id ?? request.Id, command ?? request.Command, (uint)m.Length, flags, (uint)error).WriteTo(m);
            payload.CopyTo(m.AsSpan(16));
            Peer.SendRaw(m, fds ?? []);
        }

        public void Dispose()
        {
            Client.Dispose();
            Peer.Dispose();
        }
    }
}
