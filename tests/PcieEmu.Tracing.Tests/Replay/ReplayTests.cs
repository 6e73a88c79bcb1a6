using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Replay;

namespace PcieEmu.Tracing.Tests.Replay;

/// <summary>Replaying the committed guest traces (TRACE-FORMAT.md "Replay and divergence").</summary>
public sealed class ReplayTests
{
    private static ReplayResult Replay(string path, ReplayOptions? options = null) =>
        TraceReplayer.Replay(path, options ?? new ReplayOptions(), NullLoggerFactory.Instance);

    [Theory]
    [MemberData(nameof(CommittedTraces.All), MemberType = typeof(CommittedTraces))]
    public void A_committed_guest_trace_replays_identically_and_the_same_every_time(string name)
    {
        var first = Replay(CommittedTraces.PathOf(name));
        var second = Replay(CommittedTraces.PathOf(name));

        first.Divergence.Should().BeNull(first.Divergence?.Report());
        first.Records.Should().Be(TraceReader.ReadAll(CommittedTraces.PathOf(name)).LongCount(), "every record was replayed");
        first.Units.Should().BeGreaterThan(100, "a guest session is hundreds of units at least");
        (second with { Elapsed = first.Elapsed }).Should().Be(first, "replay is deterministic");
    }

    [Fact]
    public void The_same_model_file_given_explicitly_replays_identically()
    {
        var result = Replay(CommittedTraces.PathOf("playback"), new ReplayOptions { ModelPath = Path.Combine(Devices.Repository.Root, "firmware-models", "pcieemu-audio", "default.json") });

        result.Identical.Should().BeTrue(result.Divergence?.Report());
    }

    [Fact]
    public void A_changed_tone_generator_makes_replay_fail_at_the_first_capture_write_with_a_useful_report()
    {
        var result = Replay(CommittedTraces.PathOf("capture"), new ReplayOptions { Routes = new Dictionary<string, string> { ["capture0"] = "tone:1000" } });

        result.Divergence.Should().NotBeNull("the capture samples the card writes depend on its tone generator");
        var d = result.Divergence!;
        d.At.Kind.Should().Be(TraceEventKind.DmaWrite);
        d.Unit.Kind.Should().Be(TraceEventKind.SchedulerStep);
        var firstWrite = TraceReader.ReadAll(CommittedTraces.PathOf("capture")).First(e => e.Kind == TraceEventKind.DmaWrite);
        d.At.Index.Should().Be(firstWrite.Index, "the first capture DMA write is the first thing that differs");
        d.Reason.Should().Contain("other bytes");
        d.Replayed.Should().StartWith($"DmaWrite 0x{firstWrite.A:x}").And.NotBe(TraceEventText.Describe(firstWrite.ToRecord()));
        string report = d.Report();
        report.Should().Contain("recorded").And.Contain("replayed").And.Contain(" > ").And.Contain("SchedulerStep");
        d.Before.Should().NotBeEmpty();
        d.After.Should().NotBeEmpty();
        result.Records.Should().BeLessThan(firstWrite.Index + 1);
    }

    [Fact]
    public void A_recorded_register_value_the_device_no_longer_returns_is_reported_at_that_read()
    {
        using var temp = new TempFolder();
        var events = TraceReader.ReadAll(CommittedTraces.PathOf("probe")).ToList();
        // The first BAR0 read of the CAPS register (0x008): its recorded value changed as if an older card had 3 playback streams.
        int read = events.FindIndex(e => e.Kind == TraceEventKind.BarRead && e.A == 0 && e.B == 0x008);
        read.Should().BePositive("the driver reads CAPS at probe");
        var changed = events[read + 1];
        string edited = CommittedTraces.Rewrite(CommittedTraces.PathOf("probe"), temp.File("caps.petrace"), e =>
        {
            if (e.Index != changed.Index)
            {
                return e;
            }

            var data = e.Data.ToArray();
            data[0] = 3;
            return new TraceEvent { Index = e.Index, Kind = e.Kind, Data = data };
        });

        var d = Replay(edited).Divergence!;

        d.Should().NotBeNull();
        d.At.Index.Should().Be(changed.Index);
        d.Unit.Kind.Should().Be(TraceEventKind.BarRead);
        d.Reason.Should().Contain("output differs");
        d.Replayed.Should().StartWith("-> 01 01", "the card answers its real CAPS: 1 playback, 1 capture");
    }

    [Fact]
    public void An_interrupt_the_recording_has_but_the_device_does_not_raise_is_reported()
    {
        using var temp = new TempFolder();
        var firstIrq = TraceReader.ReadAll(CommittedTraces.PathOf("playback")).First(e => e.Kind == TraceEventKind.Interrupt && e.A == 2 && e.B == 1);
        string edited = CommittedTraces.Rewrite(CommittedTraces.PathOf("playback"), temp.File("irq.petrace"), e =>
            e.Index == firstIrq.Index ? new TraceEvent { Index = e.Index, Kind = e.Kind, A = e.A, B = 3 } : e);

        var d = Replay(edited).Divergence!;

        d.At.Index.Should().Be(firstIrq.Index);
        d.Replayed.Should().Be("Interrupt Msix vector 1", "stream 0's period interrupt is on vector 1 (spec §5)");
    }

    [Fact]
    public void A_trace_recorded_with_another_model_is_refused_naming_both()
    {
        string pro = Path.Combine(Devices.Repository.Root, "firmware-models", "pcieemu-audio", "pro.json");

        var act = () => Replay(CommittedTraces.PathOf("probe"), new ReplayOptions { ModelPath = pro });

        act.Should().Throw<TraceFormatException>().WithMessage("*recorded with model \"PcieEmu Audio\"*is model \"PcieEmu Audio Pro\"*");
    }

    [Fact]
    public void A_unit_that_addresses_a_bar_the_card_lacks_is_a_clear_error_not_a_crash()
    {
        using var temp = new TempFolder();
        var target = TraceReader.ReadAll(CommittedTraces.PathOf("probe")).First(e => e.Kind == TraceEventKind.BarWrite);
        string edited = CommittedTraces.Rewrite(CommittedTraces.PathOf("probe"), temp.File("bar.petrace"), e =>
            e.Index == target.Index ? new TraceEvent { Index = e.Index, Kind = e.Kind, Time = e.Time, A = 5, B = e.B, Data = e.Data } : e);

        var act = () => Replay(edited);

        act.Should().Throw<TraceFormatException>().WithMessage($"*record {target.Index} (BarWrite): the card has no BAR5*");
    }

    [Fact]
    public void An_access_beyond_a_bar_is_a_clear_error()
    {
        using var temp = new TempFolder();
        var target = TraceReader.ReadAll(CommittedTraces.PathOf("probe")).First(e => e.Kind == TraceEventKind.BarRead);
        string edited = CommittedTraces.Rewrite(CommittedTraces.PathOf("probe"), temp.File("far.petrace"), e =>
            e.Index == target.Index ? new TraceEvent { Index = e.Index, Kind = e.Kind, Time = e.Time, A = e.A, B = ulong.MaxValue - 2, C = 8 } : e);

        var act = () => Replay(edited);

        act.Should().Throw<TraceFormatException>().WithMessage($"*record {target.Index} (BarRead): 8 B at 0x{ulong.MaxValue - 2:x} is outside BAR{target.A}*");
    }

    [Fact]
    public void A_truncated_trace_is_refused_as_truncated()
    {
        using var temp = new TempFolder();
        var bytes = File.ReadAllBytes(CommittedTraces.PathOf("playback"));
        string cut = temp.File("cut.petrace");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);

        var act = () => Replay(cut);

        act.Should().Throw<TraceFormatException>().WithMessage("*truncated*");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void A_truncated_trace_replays_up_to_its_last_whole_unit_when_asked(int fraction)
    {
        using var temp = new TempFolder();
        var bytes = File.ReadAllBytes(CommittedTraces.PathOf("volume"));
        string cut = temp.File("cut.petrace");
        File.WriteAllBytes(cut, bytes[..(bytes.Length * (fraction - 1) / fraction)]);
        var full = Replay(CommittedTraces.PathOf("volume"));

        var result = Replay(cut, new ReplayOptions { AllowTruncated = true });

        result.Divergence.Should().BeNull(result.Divergence?.Report());
        result.Truncation.Should().Contain("truncated");
        result.Units.Should().BePositive().And.BeLessThan(full.Units, "only the units before the cut");
        result.Summary().Should().Contain("only up to the last whole unit before the cut");
    }

    [Fact]
    public void A_flipped_byte_is_refused_as_corrupt()
    {
        using var temp = new TempFolder();
        var bytes = File.ReadAllBytes(CommittedTraces.PathOf("playback"));
        bytes[^100] ^= 0x40;
        string bad = temp.File("flip.petrace");
        File.WriteAllBytes(bad, bytes);

        var act = () => Replay(bad);

        act.Should().Throw<TraceFormatException>().WithMessage("*CRC mismatch (corrupt file)*");
    }

    [Fact]
    public void A_newer_format_version_is_refused_saying_which()
    {
        using var temp = new TempFolder();
        var bytes = File.ReadAllBytes(CommittedTraces.PathOf("probe"));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), 3);
        string newer = temp.File("v3.petrace");
        File.WriteAllBytes(newer, bytes);

        var act = () => Replay(newer);

        act.Should().Throw<TraceFormatException>().WithMessage("*trace format version 3; this pcieemu reads version 2 only*");
    }

    [Fact]
    public void Something_that_is_not_a_trace_is_refused()
    {
        using var temp = new TempFolder();
        string json = temp.File("model.petrace");
        File.Copy(Path.Combine(Devices.Repository.Root, "firmware-models", "pcieemu-audio", "default.json"), json);

        var act = () => Replay(json);

        act.Should().Throw<TraceFormatException>().WithMessage("*not a pcieemu trace (bad magic)*");
    }
}
