using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Examples.Edu;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Recording;
using PcieEmu.Tracing.Replay;

namespace PcieEmu.Examples.Tests;

/// <summary>The example device against its spec (src/examples/EduDevice/README.md), without QEMU.</summary>
public sealed class EduDeviceTests
{
    [Fact]
    public void Identity_and_ID_register_match_the_spec()
    {
        using var bench = new EduBench();
        Span<byte> ids = stackalloc byte[4];
        bench.F.ConfigRead(0, ids);

        ids.ToArray().Should().Equal(0x34, 0x12, 0x01, 0xED); // §1: 1234:ed01
        bench.Read32(EduRegister.Id).Should().Be(0x010000ED); // §3
    }

    [Fact]
    public void Invert_reads_back_the_inverse_of_what_was_written()
    {
        using var bench = new EduBench();
        bench.Write32(EduRegister.Invert, 0x1234_5678);

        bench.Read32(EduRegister.Invert).Should().Be(0xEDCB_A987);
    }

    [Fact]
    public void Factorial_runs_on_the_scheduler_busy_then_done_with_one_interrupt()
    {
        using var bench = new EduBench().Ready();
        bench.Write32(EduRegister.InterruptEnable, EduBits.AllCauses);
        bench.Write32(EduRegister.FactorialInput, 20);

        // §4: the MMIO write only arms the computation.
        bench.Read32(EduRegister.Status).Should().Be(EduBits.FactorialBusy);
        bench.Msix.Count.Should().Be(0);

        bench.RunDevice();

        bench.Read32(EduRegister.Status).Should().Be(0);
        bench.Read64(EduRegister.FactorialResult).Should().Be(2_432_902_008_176_640_000UL);
        bench.Read32(EduRegister.InterruptStatus).Should().Be(EduBits.FactorialDone);
        bench.Read32(EduRegister.FactorialCount).Should().Be(1);
        bench.Msix.Count.Should().Be(1);
        bench.Device.Factorials.Should().Be(1);
    }

    [Fact]
    public void Factorial_wraps_modulo_2_to_the_64_and_its_input_keeps_eight_bits()
    {
        using var bench = new EduBench();
        bench.Write32(EduRegister.FactorialInput, 0x1_0019); // §3: bits 7:0 only, so 25
        bench.RunDevice();

        ulong expected = 1;
        for (ulong i = 2; i <= 25; i++)
        {
            expected = unchecked(expected * i);
        }

        bench.Read32(EduRegister.FactorialInput).Should().Be(25);
        bench.Read64(EduRegister.FactorialResult).Should().Be(expected);
    }

    [Fact]
    public void A_factorial_written_while_busy_is_ignored()
    {
        using var bench = new EduBench();
        bench.Write32(EduRegister.FactorialInput, 5);
        bench.Write32(EduRegister.FactorialInput, 6);
        bench.RunDevice();

        bench.Read32(EduRegister.FactorialInput).Should().Be(5);
        bench.Read64(EduRegister.FactorialResult).Should().Be(120);
        bench.Device.Factorials.Should().Be(1);
    }

    [Fact]
    public void Dma_copies_between_guest_buffers_across_chunks_and_interrupts_once()
    {
        using var bench = new EduBench().Ready();
        bench.Write32(EduRegister.InterruptEnable, EduBits.AllCauses);
        new Random(7).NextBytes(bench.Memory.AsSpan(0, 10_000));
        bench.StartCopy(EduBench.Iova, EduBench.Iova + 0x4_0000, 10_000);

        bench.Read32(EduRegister.Status).Should().Be(EduBits.DmaBusy);
        bench.RunDevice();

        bench.Memory.AsSpan(0x4_0000, 10_000).ToArray().Should().Equal(bench.Memory.AsSpan(0, 10_000).ToArray());
        bench.Read32(EduRegister.Status).Should().Be(0);
        bench.Read32(EduRegister.InterruptStatus).Should().Be(EduBits.DmaDone);
        bench.Read32(EduRegister.DmaError).Should().Be(0);
        bench.Read32(EduRegister.DmaBytes).Should().Be(10_000);
        bench.Device.BytesCopied.Should().Be(10_000);
        bench.Msix.Count.Should().Be(1);
        bench.F.Interrupts.DeliveredCount(IrqIndex.Msix, 0).Should().Be(1);
    }

    [Theory]
    [InlineData(false, 0x1000u, EduDmaError.BusMasterDisabled)] // §5: Bus Master off
    [InlineData(true, 0u, EduDmaError.BadLength)]
    [InlineData(true, 0x10_0001u, EduDmaError.BadLength)] // one byte over 1 MiB
    public void Bad_copies_set_DMA_ERROR_and_the_error_cause(bool busMaster, uint length, EduDmaError expected)
    {
        using var bench = new EduBench().Ready();
        if (!busMaster)
        {
            bench.SetCommand(0x0002);
        }

        bench.Write32(EduRegister.InterruptEnable, EduBits.AllCauses);
        bench.StartCopy(EduBench.Iova, EduBench.Iova + 0x8000, length);
        bench.RunDevice();

        ((EduDmaError)bench.Read32(EduRegister.DmaError)).Should().Be(expected);
        bench.Read32(EduRegister.InterruptStatus).Should().Be(EduBits.DmaFailed);
        bench.Device.BytesCopied.Should().Be(0);
        bench.Msix.Count.Should().Be(busMaster ? 1 : 0, "without Bus Master no message can go out either");
    }

    [Fact]
    public void A_copy_outside_the_translation_table_fails_as_unmapped_without_writing()
    {
        using var bench = new EduBench().Ready();
        bench.StartCopy(EduBench.Iova + EduBench.MemoryBytes - 0x800, EduBench.Iova, 0x1000); // source runs off the mapping
        bench.RunDevice();

        ((EduDmaError)bench.Read32(EduRegister.DmaError)).Should().Be(EduDmaError.Unmapped);
        bench.Memory.AsSpan(0, 0x1000).ToArray().Should().OnlyContain(b => b == 0);
        bench.Device.DmaErrors.Should().Be(1);
        bench.Msix.Count.Should().Be(0, "INT_ENABLE is 0");
    }

    [Fact]
    public void A_pending_cause_interrupts_when_it_is_enabled_and_W1C_clears_it()
    {
        using var bench = new EduBench().Ready();
        bench.Write32(EduRegister.FactorialInput, 3);
        bench.RunDevice();
        bench.Msix.Count.Should().Be(0);

        bench.Write32(EduRegister.InterruptEnable, EduBits.FactorialDone); // §6: enabling a pending cause signals
        bench.Msix.Count.Should().Be(1);
        bench.Write32(EduRegister.InterruptEnable, EduBits.AllCauses); // already enabled: no second message
        bench.Msix.Count.Should().Be(1);

        bench.Write32(EduRegister.InterruptStatus, EduBits.FactorialDone);
        bench.Read32(EduRegister.InterruptStatus).Should().Be(0);
        bench.F.Interrupts.IntxLevel.Should().BeFalse();
    }

    [Fact]
    public void A_reset_while_busy_drops_the_result_of_work_armed_before_it()
    {
        using var bench = new EduBench().Ready();
        bench.Write32(EduRegister.InterruptEnable, EduBits.AllCauses);
        bench.Write32(EduRegister.FactorialInput, 7);
        bench.Write32(EduRegister.Invert, 1);
        bench.F.Reset(Pci.ResetKind.DeviceReset); // §2

        bench.RunDevice();

        bench.Read32(EduRegister.Status).Should().Be(0);
        bench.Read64(EduRegister.FactorialResult).Should().Be(0);
        bench.Read32(EduRegister.InterruptStatus).Should().Be(0);
        bench.Read32(EduRegister.Invert).Should().Be(0xFFFF_FFFF);
        bench.Device.Factorials.Should().Be(0);
        bench.Msix.Count.Should().Be(0);
    }

    [Fact]
    public void Unclaimed_offsets_read_all_ones()
    {
        using var bench = new EduBench();

        bench.Read32((EduRegister)0x100).Should().Be(0xFFFF_FFFF);
    }

    [Fact]
    public void A_recorded_session_replays_identically_against_a_new_device()
    {
        string path = Path.Combine(Path.GetTempPath(), $"edu-{Guid.NewGuid():N}.petrace");
        try
        {
            using (var bench = new EduBench(Pci.Scheduling.SchedulerMode.External))
            {
                var writer = TraceRecording.Start(bench.Device, EduDevice.Type, path);
                bench.Ready();
                new Random(11).NextBytes(bench.Memory.AsSpan(0, 5000));
                bench.Write32(EduRegister.InterruptEnable, EduBits.AllCauses);
                bench.Write32(EduRegister.FactorialInput, 12);
                bench.Clock.Advance(1_000);
                bench.F.Scheduler.Step();
                bench.Write32(EduRegister.InterruptStatus, EduBits.FactorialDone);
                bench.StartCopy(EduBench.Iova, EduBench.Iova + 0x2_0000, 5000);
                bench.Clock.Advance(1_000);
                bench.F.Scheduler.Step();
                bench.Read64(EduRegister.FactorialResult).Should().Be(479_001_600);
                bench.Read32(EduRegister.DmaError).Should().Be(0);
                TraceRecording.Finish(bench.Device, writer);
            }

            var events = TraceReader.ReadAll(path).ToList();
            events.Count(e => e.Kind == TraceEventKind.SchedulerStep).Should().Be(2);
            events.Count(e => e.Kind == TraceEventKind.DmaRead).Should().Be(2, "5000 bytes are two 4 KiB chunks");

            var result = TraceReplayer.Replay(path, new ReplayOptions(), EduDevice.Type, NullLoggerFactory.Instance);

            result.Divergence.Should().BeNull(result.Divergence?.Report());
            result.DmaBytes.Should().Be(10_000, "5000 bytes read and 5000 written");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_trace_of_another_device_type_is_refused()
    {
        string path = Path.Combine(Path.GetTempPath(), $"edu-{Guid.NewGuid():N}.petrace");
        try
        {
            using (var bench = new EduBench(Pci.Scheduling.SchedulerMode.External))
            {
                var writer = TraceRecording.Start(bench.Device, EduDevice.Type, path);
                TraceRecording.Finish(bench.Device, writer);
            }

            var other = EduDevice.Type with { Name = "not-edu" };
            var replay = () => TraceReplayer.Replay(path, new ReplayOptions(), other, NullLoggerFactory.Instance);

            replay.Should().Throw<TraceFormatException>().WithMessage("*edu-example*not-edu*");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
