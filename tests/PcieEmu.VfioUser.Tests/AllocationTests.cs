using System.Runtime.CompilerServices;
using PcieEmu.Pci;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Server;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// The steady state allocates nothing per message: on the server's socket thread
/// (<see cref="ConnectionStatistics.AllocatedSinceWarmup"/>) and on the client's REGION_READ/WRITE path. Measured
/// over a real socket (the in-memory transport copies each message by design).
/// <para>
/// Steady state means after one-time runtime work: the first window of traffic absorbs JIT tier-up and on-stack
/// replacement of the long-running loops (which can allocate a few KB once); the assertion is on the quietest of the
/// measured windows after it (<see cref="SteadyStateAllocation"/>: one-time work lands in one window, a per-message
/// allocation in all of them).
/// </para>
/// <para>
/// Both layers must be at zero: <see cref="PciFunction"/>'s own per-access allocation is measured on the test
/// thread with the same call (it once allocated through LINQ on every BAR access), and the socket thread's total over
/// the measured window must be exactly zero.
/// </para>
/// </summary>
public sealed class AllocationTests
{
    private const int Warmup = 3000;
    private const int Measured = 5000;

    [Theory]
    [InlineData(VfioRegion.Config, 0x0, 4, true)]
    [InlineData(VfioRegion.Config, 0x0, 4, false)]
    [InlineData(TestDevice.RegsBar, TestDevice.Scratch64Register, 8, true)]
    [InlineData(TestDevice.ShmBar, 0x10, 4, true)]
    [InlineData(TestDevice.MsixBar, TestDevice.MsixPbaOffset, 8, true)]
    public void Region_read_round_trips_allocate_nothing_in_the_vfio_user_layer(int region, ulong offset, int count, bool ioUring)
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair, new VfioUserServerOptions { TrackAllocations = true, BatchReplyWithReceive = ioUring });
        var data = new byte[count];
        Action<PciFunction> access = region == VfioRegion.Config
            ? f => f.ConfigRead((int)offset, data)
            : f => f.BarRead(region, offset, data);
        long perAccess = StablePerCall(h.Function, access);
        Reads(h.Client, region, offset, data, ConnectionStatistics.WarmupMessages + Warmup).Should().Be(0);
        Settle();
        PciPerAccessIsZero(perAccess);

        Window quietest = SteadyStateAllocation.Quietest(
            () =>
            {
                var (messages, allocated) = Sample(h);
                long before = GC.GetAllocatedBytesForCurrentThread();
                int missing = Reads(h.Client, region, offset, data, Measured);
                long clientAllocated = GC.GetAllocatedBytesForCurrentThread() - before;
                h.Client.RegionRead(region, offset, data); // the server samples at the start of each message
                missing.Should().Be(0, "every read returned its full count");
                return new Window(clientAllocated, ServerShare(h, messages, allocated));
            },
            w => w.Bytes);

        quietest.Client.Should().Be(0, "the client's REGION_READ path allocates nothing");
        quietest.Server.Should().Be(0, "the socket thread allocates nothing per message");
        StablePerCall(h.Function, access).Should().Be(perAccess);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Bar_writes_allocate_nothing_in_the_vfio_user_layer(bool posted)
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair, new VfioUserServerOptions { TrackAllocations = true });
        var value = new byte[4];
        long perAccess = StablePerCall(h.Function, f => f.BarWrite(TestDevice.RegsBar, TestDevice.ScratchRegister, value));
        StablePerCall(h.Function, f => f.BarRead(TestDevice.RegsBar, TestDevice.ScratchRegister, value)).Should().Be(perAccess);
        Writes(h.Client, TestDevice.RegsBar, TestDevice.ScratchRegister, ConnectionStatistics.WarmupMessages + Warmup, posted);
        h.Client.ReadUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister); // a round trip: every posted write is processed
        Settle();
        PciPerAccessIsZero(perAccess); // a window's one read costs the function what a write does

        Window quietest = SteadyStateAllocation.Quietest(
            () =>
            {
                var (messages, allocated) = Sample(h);
                long before = GC.GetAllocatedBytesForCurrentThread();
                Writes(h.Client, TestDevice.RegsBar, TestDevice.ScratchRegister, Measured, posted);
                long clientAllocated = GC.GetAllocatedBytesForCurrentThread() - before;
                h.Client.WriteUInt32(TestDevice.RegsBar, TestDevice.ScratchRegister, 7); // non-posted: all earlier ones are processed
                return new Window(clientAllocated, ServerShare(h, messages, allocated));
            },
            w => w.Bytes);

        quietest.Client.Should().Be(0, "the client's REGION_WRITE path allocates nothing");
        quietest.Server.Should().Be(0, "the socket thread allocates nothing per message");
    }

    [Fact]
    public void Config_writes_allocate_nothing_in_the_vfio_user_layer()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair, new VfioUserServerOptions { TrackAllocations = true });
        long perAccess = StablePerCall(h.Function, f => f.ConfigWrite(0x3c, [5]));
        Writes(h.Client, VfioRegion.Config, 0x3c, ConnectionStatistics.WarmupMessages + Warmup, posted: false, width: 1);
        Settle();
        PciPerAccessIsZero(perAccess);

        long quietest = SteadyStateAllocation.Quietest(
            () =>
            {
                var (messages, allocated) = Sample(h);
                Writes(h.Client, VfioRegion.Config, 0x3c, Measured, posted: false, width: 1);
                h.Client.WriteUInt8(VfioRegion.Config, 0x3c, 1);
                return ServerShare(h, messages, allocated);
            },
            bytes => bytes);

        quietest.Should().Be(0, "the socket thread allocates nothing per message");
    }

    private static (long Messages, long Allocated) Sample(ServerHarness h) =>
        (h.Connection.Statistics.Messages, h.Connection.Statistics.AllocatedSinceWarmup);

    /// <summary>Lets background tier-up work queued by the warm-up finish before the measured window.</summary>
    private static void Settle() => Thread.Sleep(250);

    private static void PciPerAccessIsZero(long perAccess) =>
        perAccess.Should().Be(0, "PciFunction allocates nothing per bus access");

    /// <summary>
    /// Bytes the socket thread allocated since <paramref name="allocatedBefore"/> was sampled, checking that the
    /// window's messages were all processed in between.
    /// </summary>
    private static long ServerShare(ServerHarness h, long messagesBefore, long allocatedBefore)
    {
        var stats = h.Connection.Statistics;
        long processed = stats.Messages - messagesBefore; // messages processed between the two samples
        processed.Should().BeGreaterThanOrEqualTo(Measured);
        return stats.AllocatedSinceWarmup - allocatedBefore;
    }

    /// <summary>What one measured window allocated on the client's thread and on the server's socket thread.</summary>
    private readonly record struct Window(long Client, long Server)
    {
        public long Bytes => Client + Server;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Reads(VfioUserClient client, int region, ulong offset, byte[] data, int n)
    {
        int missing = 0;
        for (int i = 0; i < n; i++)
        {
            missing += data.Length - client.RegionRead(region, offset, data);
        }

        return missing;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Writes(VfioUserClient client, int region, ulong offset, int n, bool posted, int width = 4)
    {
        for (int i = 0; i < n; i++)
        {
            if (width == 1)
            {
                client.WriteUInt8(region, offset, (byte)i, posted);
            }
            else
            {
                client.WriteUInt32(region, offset, (uint)i, posted);
            }
        }
    }

    /// <summary>
    /// Bytes one call allocates on this thread once the call's code has reached its final tier: what a call costs
    /// changes while its callees are re-jitted, so measure until two measurements in a row agree.
    /// </summary>
    private static long StablePerCall(PciFunction function, Action<PciFunction> access)
    {
        long last = -1;
        for (int attempt = 0; attempt < 60; attempt++)
        {
            Repeat(function, access, 2000);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Repeat(function, access, 1000);
            long total = GC.GetAllocatedBytesForCurrentThread() - before;
            long now = total % 1000 == 0 ? total / 1000 : -1;
            if (now >= 0 && now == last)
            {
                return now;
            }

            last = now;
            Thread.Sleep(50);
        }

        throw new InvalidOperationException("the function's per-access allocation never settled");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Repeat(PciFunction function, Action<PciFunction> access, int n)
    {
        for (int i = 0; i < n; i++)
        {
            access(function);
        }
    }
}
