using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Devices;
using PcieEmu.Examples.Edu;
using PcieEmu.Harness;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Replay;

namespace PcieEmu.Integration.Tests;

/// <summary>
/// A device of the user's own (src/examples/EduDevice): the guest boots with only that device, its driver is built
/// from its source directory and loaded the way `boot --driver DIR` loads it (GuestSessionOptions.Drivers), and a
/// shell command runs a factorial and a DMA copy through the driver's sysfs files. Asserted on both sides: what the
/// guest read back, and what the device counted. The session is recorded and the trace replays without QEMU.
/// </summary>
public sealed class EduExampleTests
{
    private static string DriverDirectory => Path.Combine(Repository.Root, "src", "examples", "EduDevice", "driver");

    /// <summary>README.md §7 as a shell user runs it.</summary>
    private const string Commands =
        "d=$(ls -d /sys/bus/pci/drivers/edu_example/0000:*) && cat $d/id && echo 0x12345678 > $d/invert && cat $d/invert && " +
        "echo 20 > $d/factorial && cat $d/factorial && echo 65536 > $d/dma_copy && cat $d/dma_copy && cat $d/irqs";

    [Fact]
    public async Task The_guest_runs_a_factorial_and_a_dma_copy_through_the_example_driver_and_the_trace_replays()
    {
        string traces = Directory.CreateTempSubdirectory("pcieemu-edu-traces-").FullName;
        try
        {
            var options = new GuestSessionOptions
            {
                ModelPaths = [],
                Devices = [EduDevice.Type],
                LoadDrivers = false,
                Drivers = [DriverDirectory],
                TraceDirectory = traces,
            };
            await using (var session = await GuestSession.StartAsync(options, GuestFixture.Loggers))
            {
                session.DriverLoadFailures().Should().BeEmpty();
                session.DriversToLoad.Should().Equal("edu_example");
                var device = (EduDevice)session.Cards[0].Device;

                string output = await session.RunCheckedAsync(Commands);

                // What the guest saw.
                output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Should().Equal("0x010000ed", "0xedcba987", "2432902008176640000", "ok 65536", "2");

                // What the device saw: each sysfs write returned after the completion interrupt.
                device.Factorials.Should().Be(1);
                device.Copies.Should().Be(1);
                device.BytesCopied.Should().Be(65536);
                device.DmaErrors.Should().Be(0);
                device.InterruptsRaised.Should().Be(2);
                device.Function.Interrupts.DeliveredCount(IrqIndex.Msix, 0).Should().Be(2);
                device.Function.Interrupts.Mode.Should().Be(InterruptMode.Msix);
            }

            string trace = GuestSession.TracePath(traces, 0);
            var events = TraceReader.ReadAll(trace).ToList();
            events.Where(e => e.Kind == TraceEventKind.DmaWrite).Sum(e => (long)e.Data.Length).Should().Be(65536);

            var result = TraceReplayer.Replay(trace, new ReplayOptions(), EduDevice.Type, NullLoggerFactory.Instance);

            result.Divergence.Should().BeNull(result.Divergence?.Report());
            result.DmaBytes.Should().Be(2 * 65536);
        }
        finally
        {
            Directory.Delete(traces, recursive: true);
        }
    }
}
