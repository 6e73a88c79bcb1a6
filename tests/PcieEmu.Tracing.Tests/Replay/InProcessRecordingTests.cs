using PcieEmu.Pci.Timing;
using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Devices;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Devices.Common;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Observation;
using PcieEmu.Pci.Tests;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Recording;
using PcieEmu.Tracing.Replay;

namespace PcieEmu.Tracing.Tests.Replay;

/// <summary>
/// Recording a card driven in-process (no guest): the diagnostic DMA engine's jobs (which no ALSA session uses) run
/// in scheduler steps that are units and replay, and a recording ends between units.
/// </summary>
public sealed class InProcessRecordingTests
{
    private static readonly string DefaultModel = Path.Combine(Repository.Root, "firmware-models", "pcieemu-audio", "default.json");

    [Fact]
    public void Diagnostic_dma_jobs_record_as_scheduler_steps_and_replay_identically()
    {
        using var temp = new TempFolder();
        string path = temp.File("diag.petrace");
        var clock = new ManualDeviceClock();
        var memory = new byte[1 << 16];
        using (var card = CardFactory.Load(DefaultModel, NullLoggerFactory.Instance, new CardOptions { Clock = clock, Scheduling = PcieEmu.Pci.Scheduling.SchedulerMode.External }))
        {
            var writer = TraceRecording.Start(card, DefaultModel, new Dictionary<string, string>(), path);
            var f = card.Function;
            f.ConfigWrite(4, [0x06, 0x00]); // memory decode and bus mastering
            f.DmaMappings.MapRam(0x10_0000, (ulong)memory.Length, DmaAccess.ReadWrite, memory);
            new Random(3).NextBytes(memory.AsSpan(0, 4096));
            Write(f, AudioRegister.DiagDmaAddr, 0x10_0000, 8);
            Write(f, AudioRegister.DiagDmaLen, 4096, 4);
            clock.Advance(1_000);
            Write(f, AudioRegister.DiagDmaCtl, AudioFields.DiagDmaCtl.Start, 4); // read 4 KiB and hash it
            clock.Advance(5_000);
            card.Function.Scheduler.Step();
            Write(f, AudioRegister.DiagDmaAddr, 0x10_2000, 8);
            Write(f, AudioRegister.DiagDmaSeed, 0xC0FFEE, 4);
            Write(f, AudioRegister.DiagDmaCtl, AudioFields.DiagDmaCtl.Start | AudioFields.DiagDmaCtl.Dir, 4); // write the pattern
            clock.Advance(5_000);
            card.Function.Scheduler.Step();
            Read(f, AudioRegister.DiagDmaSts);
            Read(f, AudioRegister.DiagDmaResult);
            TraceRecording.Finish(card, writer);
        }

        var events = TraceReader.ReadAll(path).ToList();
        events.Count(e => e.Kind == TraceEventKind.SchedulerStep).Should().Be(2);
        events.Where(e => e.Kind == TraceEventKind.DmaRead).Should().ContainSingle().Which.Data.Should().Equal(memory.AsSpan(0, 4096).ToArray());
        events.Where(e => e.Kind == TraceEventKind.DmaWrite).Should().ContainSingle().Which.Data.Should().Equal(memory.AsSpan(0x2000, 4096).ToArray());
        events.Where(e => e.IsUnit).Select(e => e.Time).Should().BeInAscendingOrder();

        var result = TraceReplayer.Replay(path, new ReplayOptions(), NullLoggerFactory.Instance);

        result.Divergence.Should().BeNull(result.Divergence?.Report());
        result.DmaBytes.Should().Be(8192);
    }

    [Fact]
    public void A_scheduler_step_that_did_something_only_in_the_recording_is_a_divergence()
    {
        using var temp = new TempFolder();
        string path = temp.File("job.petrace");
        using (var card = CardFactory.Load(DefaultModel, NullLoggerFactory.Instance, new CardOptions { Clock = new ManualDeviceClock(), Scheduling = PcieEmu.Pci.Scheduling.SchedulerMode.External }))
        {
            var writer = TraceRecording.Start(card, DefaultModel, new Dictionary<string, string>(), path);
            writer.Write(new TraceRecord(TraceEventKind.SchedulerStep, 10)); // as if the recording card had a job the replay cannot know of
            TraceRecording.Finish(card, writer);
        }

        var d = TraceReplayer.Replay(path, new ReplayOptions(), NullLoggerFactory.Instance).Divergence;

        d.Should().NotBeNull();
        d!.Reason.Should().Contain("did nothing at this step");
    }

    [Fact]
    public async Task Finishing_waits_for_the_running_unit_so_the_trace_never_ends_inside_one()
    {
        using var temp = new TempFolder();
        string path = temp.File("finish.petrace");
        using var card = CardFactory.Load(DefaultModel, NullLoggerFactory.Instance, new CardOptions { Clock = new ManualDeviceClock(), Scheduling = PcieEmu.Pci.Scheduling.SchedulerMode.External });
        var writer = TraceRecording.Start(card, DefaultModel, new Dictionary<string, string>(), path);
        using var inUnit = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        card.Function.Scheduler.Post(() =>
        {
            inUnit.Set();
            release.Wait();
        });
        var device = Task.Run(card.Function.Scheduler.Step);
        inUnit.Wait();

        var finishing = Task.Run(() => TraceRecording.Finish(card, writer));
        (await Task.WhenAny(finishing, Task.Delay(200))).Should().NotBe(finishing, "the unit is still running");
        release.Set();
        await device;
        await finishing.WaitAsync(TimeSpan.FromSeconds(10));

        TraceReader.ReadAll(path).Select(e => e.Kind).Should().Equal(TraceEventKind.SchedulerStep);
    }

    private static void Write(Pci.PciFunction f, AudioRegister register, ulong value, int width)
    {
        var data = new byte[width];
        if (width == 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(data, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(data, (uint)value);
        }

        f.BarWrite(0, (ulong)register, data);
    }

    private static void Read(Pci.PciFunction f, AudioRegister register) => f.BarRead(0, (ulong)register, new byte[4]);
}
