using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Devices;
using PcieEmu.Devices.Audio;
using PcieEmu.Harness;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Replay;

namespace PcieEmu.Integration.Tests;

/// <summary>
/// The guest sessions behind the traces committed in tests/PcieEmu.Tracing.Tests/Traces (driver probe, playback,
/// capture, volume changes). Each CI run records them again from a real guest and replays the fresh recording
/// without QEMU (src/PcieEmu.Tracing/TRACE-FORMAT.md): the replayed card, fed the guest's recorded accesses and
/// DMA read data in virtual time, must do exactly what the live card did. With PCIEEMU_UPDATE_TRACES=1 the
/// recordings replace the committed ones.
/// </summary>
public sealed class TraceRecordingTests
{
    private static readonly AudioFormat Format = new(SampleFormat.S16Le, 48000, 2);

    public static TheoryData<string> Scenarios() => ["probe", "playback", "capture", "volume"];

    /// <summary>What each committed trace's guest does after boot and driver probe.</summary>
    private static string Commands(string scenario) => scenario switch
    {
        "probe" => "cat /proc/asound/cards",
        "playback" => AudioFiles.Play("trace.raw", Format, periodFrames: 960),
        "capture" => AudioFiles.Record("trace-rec.raw", Format, 4800, periodFrames: 960),
        "volume" => $"{AudioMixer.Set(AudioMixer.PlaybackVolume, 0, "172,150")} && {AudioMixer.Set(AudioMixer.PlaybackSwitch, 0, "on,off")} && " +
                    $"{AudioFiles.Play("trace.raw", Format, periodFrames: 960)} && {AudioMixer.Set(AudioMixer.CaptureVolume, 1, "204,100")} && " +
                    $"{AudioFiles.Record("trace-rec.raw", Format, 2400, periodFrames: 480)}",
        _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
    };

    [Theory]
    [MemberData(nameof(Scenarios))]
    public async Task A_recorded_guest_session_replays_identically_without_qemu(string scenario)
    {
        string traces = Directory.CreateTempSubdirectory("pcieemu-traces-").FullName;
        try
        {
            long liveViolations;
            await using (var session = await GuestSession.StartAsync(new GuestSessionOptions { TraceDirectory = traces }, GuestFixture.Loggers))
            {
                await File.WriteAllBytesAsync(Path.Combine(session.ShareDirectory, "trace.raw"), AudioFiles.Samples(Format, 2400, seed: 9900));
                await session.RunCheckedAsync(Commands(scenario));
                liveViolations = session.Cards[0].Card.Checker.Count;
            }

            string trace = GuestSession.TracePath(traces, 0);
            var result = TraceReplayer.Replay(trace, new ReplayOptions(), NullLoggerFactory.Instance);

            result.Divergence.Should().BeNull(result.Divergence?.Report());
            liveViolations.Should().Be(0);
            var kinds = TraceReader.ReadAll(trace).Select(e => e.Kind).ToHashSet();
            kinds.Should().Contain([TraceEventKind.ConfigRead, TraceEventKind.ConfigWrite, TraceEventKind.BarRead, TraceEventKind.BarWrite,
                TraceEventKind.DmaMap, TraceEventKind.IrqAssign, TraceEventKind.ReadData], "every session probes the card");
            if (scenario != "probe")
            {
                kinds.Should().Contain([TraceEventKind.SchedulerStep, TraceEventKind.Work, TraceEventKind.DmaRead, TraceEventKind.Interrupt], "streams ran, read their descriptors and interrupted");
                kinds.Should().Contain(scenario == "capture" ? TraceEventKind.DmaWrite : Devices.AudioCard.AudioCardRecorder.SinkData.Kind, "samples moved");
            }

            if (Environment.GetEnvironmentVariable("PCIEEMU_UPDATE_TRACES") == "1")
            {
                File.Copy(trace, Path.Combine(Repository.Root, "tests", "PcieEmu.Tracing.Tests", "Traces", $"{scenario}{Tracing.Recording.TraceRecording.Extension}"), overwrite: true);
            }
        }
        finally
        {
            Directory.Delete(traces, recursive: true);
        }
    }
}
