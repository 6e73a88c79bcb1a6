using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;
using PcieEmu.Pci;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Server;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// Connection lifecycle (vfio-user-protocol.md §1, qemu notes §10–11): a client that leaves takes all its DMA
/// mappings and fds with it and the device sees Reset(ClientLost); one client at a time; Persist; the socket file.
/// </summary>
[Collection(FdSensitiveCollection.Name)]
public sealed class SessionLifecycleTests
{
    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public void Client_disconnect_releases_every_mapping_and_fd_and_resets_the_device(TransportKind kind)
    {
        Scenario(kind); // warm-up: the runtime opens some fds lazily on first use
        int baseline = FdCount.Now();
        Scenario(kind);
        FdCount.SettleTo(baseline).Should().Be(baseline, "every fd of the session is closed once it is over");

        static void Scenario(TransportKind kind)
        {
            string ramName = $"ram-{Guid.NewGuid():N}";
            using var h = ServerHarness.Start(kind);
            using var ram = MemFd.Create(ramName, 1 << 20);
            SafeHandle[] irqs = [.. Enumerable.Range(0, 7).Select(_ => EventFd.Create())];
            try
            {
                int eventfdsBefore = Links("anon_inode:[eventfd]");
                h.Client.DmaMap(0, 1 << 20, DmaMapFlags.ReadWrite, ram);
                h.Client.DmaMap(0xfffc0000, 0x40000, DmaMapFlags.Read);
                h.Client.SetIrqEventFds(0, 0, irqs.AsSpan(0, 1));
                h.Client.SetIrqEventFds(0, 0, irqs.AsSpan(1, 1), IrqAction.Unmask); // INTx resample fd (KVM)
                h.Client.SetIrqEventFds(2, 0, irqs.AsSpan(2, 4));
                h.Client.SetIrqEventFds(3, 0, irqs.AsSpan(6, 1));
                h.Function.DmaMappings.Count.Should().Be(2);
                MappedViews(ramName).Should().BeGreaterThan(0, "the server mmapped the RAM fd");
                Links("anon_inode:[eventfd]").Should().BeGreaterThanOrEqualTo(eventfdsBefore + irqs.Length, "the server holds its copies");

                h.Client.Dispose();
                h.WaitForSessionEnd().Should().BeTrue();
                h.Function.DmaMappings.Count.Should().Be(0);
                h.Device.ResetsSoFar().Should().EndWith(ResetKind.ClientLost);
                SpinWait.SpinUntil(() => MappedViews(ramName) == 0, 2000).Should().BeTrue("the RAM mapping is unmapped");
                SpinWait.SpinUntil(() => Links("anon_inode:[eventfd]") == eventfdsBefore, 2000)
                    .Should().BeTrue($"the server closed all its eventfds ({Links("anon_inode:[eventfd]")} vs {eventfdsBefore})");
                for (int v = 0; v < TestDevice.MsixVectors; v++)
                {
                    h.Function.Interrupts.HasSignal(Pci.Interrupts.IrqIndex.Msix, v).Should().BeFalse();
                }
            }
            finally
            {
                foreach (var fd in irqs)
                {
                    fd.Dispose();
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public void The_device_learns_of_the_lost_client_before_its_memory_is_unmapped(TransportKind kind)
    {
        // Spec §7 of the audio card: a running stream ends with ERRCODE TRANSPORT when the client dies. That holds
        // only if the ClientLost reset reaches the device while guest memory is still mapped; unmapping first let an
        // engine step in between fail with UNMAPPED instead.
        using var h = ServerHarness.Start(kind);
        using var ram = MemFd.Create("ram", 1 << 20, sealSize: true);
        h.Client.DmaMap(0, 1 << 20, DmaMapFlags.ReadWrite, ram);
        h.Client.DmaMap(0xfffc0000, 0x40000, DmaMapFlags.Read);

        h.Client.Dispose();
        h.WaitForSessionEnd().Should().BeTrue();

        lock (h.Device.Resets)
        {
            h.Device.Resets.Should().EndWith(ResetKind.ClientLost);
            h.Device.MappingsAtReset[^1].Should().Be(2, "the device is told before its mappings go");
        }

        h.Function.DmaMappings.Count.Should().Be(0, "and then they go");
    }

    [Fact]
    public void Fds_attached_to_a_request_that_takes_none_are_closed()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var stray = EventFd.Create();
        using var memfd = MemFd.Create("stray", 4096);
        Expect.Errno(h.Client.Call(VfioUserCommand.RegionRead, Wire.Access(0, VfioRegion.Config, 4), [stray]), Errno.EINVAL);
        int baseline = FdCount.Now();
        for (int i = 0; i < 3; i++)
        {
            Expect.Errno(h.Client.Call(VfioUserCommand.RegionRead, Wire.Access(0, VfioRegion.Config, 4), [stray, memfd]), Errno.EINVAL);
            Expect.Errno(h.Client.Call(VfioUserCommand.DeviceReset, [], [stray]), Errno.EINVAL);
            Expect.Errno(h.Client.Call(VfioUserCommand.DmaMap, Wire.DmaMap(Wire.Rw, 0, 0x1000, 0x1000), [memfd, stray]), Errno.EINVAL);
        }

        h.Client.GetDeviceInfo(); // the server releases a message's fds before it reads the next one
        FdCount.Now().Should().Be(baseline, "the server closed every fd it received and did not keep");
    }

    [Fact]
    public void Dma_map_fds_are_closed_once_mapped()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var ram = MemFd.Create("ram", 0x100000);
        h.Client.DmaMap(0, 0x1000, DmaMapFlags.ReadWrite, ram);
        h.Client.DmaUnmap(0, 0x1000);
        int baseline = FdCount.Now();

        // QEMU sends a new fd number with every map, even for the same memfd (notes §6).
        for (int i = 0; i < 16; i++)
        {
            h.Client.DmaMap((ulong)i * 0x10000, 0x10000, DmaMapFlags.ReadWrite, ram, (ulong)i * 0x10000);
        }

        h.Function.DmaMappings.Count.Should().Be(16);
        FdCount.Now().Should().Be(baseline, "the server keeps the mappings, not the fds");
    }

    [Fact]
    public void Fds_truncated_by_the_kernel_are_closed()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        var fds = Enumerable.Range(0, h.Options.MaxFdsPerMessage + 4).Select(_ => EventFd.Create()).ToArray();
        try
        {
            Expect.Errno(h.Client.Call(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, 2, 0, fds.Length), fds), Errno.EINVAL);
            int baseline = FdCount.Now();
            Expect.Errno(h.Client.Call(VfioUserCommand.DeviceSetIrqs, Wire.IrqSet(0x24, 2, 0, fds.Length), fds), Errno.EINVAL);
            h.Client.GetDeviceInfo();
            FdCount.Now().Should().Be(baseline);
        }
        finally
        {
            foreach (var fd in fds)
            {
                fd.Dispose();
            }
        }
    }

    [Fact]
    public void Without_persist_run_returns_after_the_first_client()
    {
        using var device = new TestDevice();
        string path = TempSocket();
        using var logs = new TestLoggerFactory();
        using var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions(), logs);
        server.Listen();
        var run = Task.Factory.StartNew(server.Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        using (var client = VfioUserClient.Connect(path))
        {
            client.Negotiate();
            client.GetDeviceInfo();
        }

        SpinWait.SpinUntil(() => run.IsCompleted, ServerHarness.Bound).Should().BeTrue("Run returns once its only client left");
        StopAndWait(server, run);
        server.SessionCount.Should().Be(1);
        device.ResetsSoFar().Should().Contain(ResetKind.ClientLost);
    }

    [Fact]
    public void With_persist_the_next_client_is_served_after_a_disconnect()
    {
        using var device = new TestDevice();
        string path = TempSocket();
        using var logs = new TestLoggerFactory();
        using var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions { Persist = true }, logs);
        server.Listen();
        var run = server.RunAsync();
        for (int session = 1; session <= 3; session++)
        {
            using var ram = MemFd.Create("ram", 0x10000);
            using (var client = VfioUserClient.Connect(path))
            {
                client.Negotiate();
                client.DmaMap(0, 0x10000, DmaMapFlags.ReadWrite, ram);
                client.WriteUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister, (uint)session);
                client.ReadUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister).Should().Be((uint)session);
            }

            SpinWait.SpinUntil(() => server.Current is null && server.Last is not null && server.SessionCount == session, ServerHarness.Bound)
                .Should().BeTrue();
            device.Function.DmaMappings.Count.Should().Be(0);
        }

        server.SessionCount.Should().Be(3);
        run.IsCompleted.Should().BeFalse("a persistent server keeps listening");
        StopAndWait(server, run);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_second_concurrent_client_is_refused(bool persist)
    {
        using var device = new TestDevice();
        string path = TempSocket();
        using var logs = new TestLoggerFactory();
        using var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions { Persist = persist }, logs);
        server.Listen();
        var run = server.RunAsync();
        using var first = VfioUserClient.Connect(path);
        first.Negotiate();

        using (var second = VfioUserClient.Connect(path))
        {
            // Closed at once: EOF; ECONNRESET when the kernel drops our unread VERSION with the socket; EPIPE when the
            // server closed before we even sent. Never a timeout.
            bool closed;
            try
            {
                second.Send(VfioUserCommand.Version, Wire.QemuVersion());
                closed = !second.TryReceive(out _, ServerHarness.Bound);
            }
            catch (VfioUserProtocolException e) when (e.Message.Contains("ECONNRESET", StringComparison.Ordinal) || e.Message.Contains("EPIPE", StringComparison.Ordinal))
            {
                closed = true;
            }

            closed.Should().BeTrue("the server refuses a second client");
        }

        first.GetDeviceInfo().NumRegions.Should().Be(9, "the first client is unaffected");
        server.SessionCount.Should().Be(1);
        first.Dispose();
        if (!persist)
        {
            SpinWait.SpinUntil(() => run.IsCompleted, ServerHarness.Bound).Should().BeTrue("without Persist, Run ends with its one client");
        }

        StopAndWait(server, run);
    }

    [Fact]
    public void Socket_file_is_0600()
    {
        using var device = new TestDevice();
        string path = TempSocket();
        using var logs = new TestLoggerFactory();
        using var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions(), logs);
        server.Listen();
        File.GetUnixFileMode(path).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    [Fact]
    public void Stale_socket_file_is_replaced()
    {
        string path = TempSocket();
        string aside = path + ".aside";
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            stale.Bind(new UnixDomainSocketEndPoint(path));
            stale.Listen(1);
            File.Move(path, aside); // .NET unlinks the path on Dispose; a crashed server would not
        }

        File.Move(aside, path);
        File.Exists(path).Should().BeTrue("a dead server's socket file is left behind");
        using var device = new TestDevice();
        using var logs = new TestLoggerFactory();
        using var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions(), logs);
        server.Listen();
        var run = server.RunAsync();
        using (var client = VfioUserClient.Connect(path))
        {
            client.Negotiate().Major.Should().Be(0);
        }

        StopAndWait(server, run);
    }

    [Fact]
    public void Socket_in_use_is_refused()
    {
        string path = TempSocket();
        using var other = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        other.Bind(new UnixDomainSocketEndPoint(path));
        other.Listen(1);
        using var device = new TestDevice();
        using var logs = new TestLoggerFactory();
        using var server = new VfioUserServer(device.Function, path, new VfioUserServerOptions(), logs);
        var act = server.Listen;
        act.Should().Throw<IOException>().WithMessage("*in use*");
        File.Exists(path).Should().BeTrue("the other server's socket is left alone");
        other.Dispose();
        File.Delete(path);
    }

    /// <summary>
    /// Stops the server and waits until Run returned (Run joins its session thread, so every socket of the session
    /// is closed): nothing may still be closing fds when the next test of this collection counts them.
    /// </summary>
    private static void StopAndWait(VfioUserServer server, Task run)
    {
        server.Dispose();
        SpinWait.SpinUntil(() => run.IsCompleted, ServerHarness.Bound).Should().BeTrue("Dispose stops Run");
        SpinWait.SpinUntil(() => server.Current is null, ServerHarness.Bound).Should().BeTrue("the session has ended");
    }

    private static string TempSocket() => Path.Combine(Path.GetTempPath(), $"pcieemu-{Guid.NewGuid():N}.sock");

    /// <summary>Open fds of this process whose link target starts with <paramref name="target"/>.</summary>
    private static int Links(string target)
    {
        int n = 0;
        foreach (var entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(entry).LinkTarget is { } link && link.StartsWith(target, StringComparison.Ordinal))
                {
                    n++;
                }
            }
            catch (IOException)
            {
                // the fd closed while we looked
            }
        }

        return n;
    }

    /// <summary>Mappings of this process backed by the memfd named <paramref name="name"/>.</summary>
    private static int MappedViews(string name) =>
        File.ReadAllLines("/proc/self/maps").Count(l => l.Contains($"/memfd:{name}", StringComparison.Ordinal));

    internal static SafeFileHandle[] EventFds(int n) => Enumerable.Range(0, n).Select(_ => EventFd.Create()).ToArray();
}
