using System.Globalization;
using System.Text.RegularExpressions;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Harness;
using PcieEmu.Harness.Audio;
using PcieEmu.Pci.Dma;

namespace PcieEmu.Integration.Tests;

/// <summary>The default card and driver behind the vIOMMU, for the driver's IOMMU-only faults.</summary>
public sealed class ViommuFaultGuest : GuestFixture
{
    protected override GuestSessionOptions Options => new() { Viommu = true };
}

/// <summary>
/// Driver bugs only an IOMMU can catch (qemu/drivers/pcieemu_audio/README.md, faults past_end, use_after_unmap,
/// wrong_dir): without one, all guest RAM is mapped and the card would quietly touch memory the driver does not own.
/// Behind the vIOMMU each is a named violation whose detail gives the first bad IOVA (spec §10), which the test checks
/// against the IOVAs the driver logged, and against the mappings QEMU forwarded while it ran.
/// </summary>
public sealed partial class ViommuFaultTests(ViommuFaultGuest guest) : IClassFixture<ViommuFaultGuest>
{
    /// <summary>The driver-bound PCI device's sysfs folder, found from the driver (no BDF assumed).</summary>

    /// <summary>
    /// past_end uses 3 periods of 1024 S16 stereo frames: a 12 KiB (3-page) buffer. The guest's IOVA allocator reserves
    /// a power of two for buffers under 128 KiB, so the page just past this buffer belongs to it and is never mapped:
    /// past_end reliably points at unmapped IOVA space, whatever else the guest has mapped. (A refused start moves no
    /// data, so the short buffer cannot time out.)
    /// </summary>
    private const int PeriodFrames = 1024;
    private const int PastEndPeriods = 3;
    private const int Frames = 12000;
    private static readonly AudioFormat Format = new(SampleFormat.S16Le, 48000, 2);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task A_list_one_period_past_the_buffer_is_refused_at_RUN_naming_the_page_past_it(int stream)
    {
        var (bad, seen, dmesg) = await RefusedAtRun(stream, "past_end", "StreamUnmapped", AudioDmaErr.Unmapped, "UNMAPPED",
            PastEndLog(), m => GuestOutput.ParseHex(m.Groups["at"].Value));

        var logged = PastEndLog().Match(dmesg);
        ulong buffer = GuestOutput.ParseHex(logged.Groups["buffer"].Value);
        ulong bytes = ulong.Parse(logged.Groups["bytes"].Value, CultureInfo.InvariantCulture);
        bad.Should().Be(buffer + bytes, "the descriptor past the end starts right after the buffer");
        seen.Should().Contain(m => m.Iova == buffer, "the buffer itself was mapped");
        seen.Should().NotContain(m => m.Iova <= bad && bad - m.Iova < m.Size, "nothing was mapped past the buffer while the driver ran");
    }

    [Fact]
    public async Task Capture_into_a_buffer_mapped_to_device_is_denied_at_RUN_naming_its_first_page()
    {
        var (bad, seen, _) = await RefusedAtRun(1, "wrong_dir", "StreamDenied", AudioDmaErr.Denied, "DENIED",
            WrongDirLog(), m => GuestOutput.ParseHex(m.Groups["at"].Value));

        seen.Should().Contain(m => m.Iova == bad && m.Access == DmaAccess.Read,
            "the guest's DMA_TO_DEVICE mapping reached the card read-only (DMA_MAP flags READ)");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task A_stream_left_running_after_its_buffer_is_freed_faults_at_the_first_unmapped_byte(int stream)
    {
        var card = guest.Audio;
        var s = card.Streams[stream];
        var dma = card.Function.DmaMappings;
        await PrepareFile(stream);
        guest.ExpectViolations("StreamUnmapped");
        try
        {
            await SetFault("use_after_unmap");
            var baseline = dma.Mappings;
            long violationsBefore = card.Checker.Count;
            int runsBefore = s.Runs.Count;

            var result = await guest.Session.RunAsync(Transfer(stream), TimeSpan.FromSeconds(60));

            result.ExitCode.Should().Be(0, $"the transfer itself completes; the bug is what the driver leaves behind:\n{result.Output}\n{await guest.Run("dmesg | tail -20")}");
            await Viommu.Until(() => card.Checker.Count > violationsBefore, "the card's next DMA after the free faults");
            var v = guest.AudioViolations().Skip((int)violationsBefore).Should().ContainSingle("the card stops the stream at the first fault").Subject;
            v.RuleName.Should().Be("StreamUnmapped");
            v.Details.Stream.Should().Be(stream, "the violation names the stream");
            v.What.Should().Contain("buffer DMA at frame", "a running stream's buffer DMA failed, not its start");
            v.Details.BadAddress.Should().NotBeNull($"the violation names the first bad IOVA: {v.Report()}");
            v.Details.Descriptor.Should().NotBeNull("and the descriptor whose segment it is in");
            ulong bad = v.Details.BadAddress!.Value;
            string dmesg = await guest.Run("dmesg");
            var logged = UseAfterUnmapLog().Match(dmesg);
            logged.Success.Should().BeTrue($"the driver logged the buffer:\n{dmesg}");
            ulong buffer = GuestOutput.ParseHex(logged.Groups["buffer"].Value);
            ulong bytes = ulong.Parse(logged.Groups["bytes"].Value, CultureInfo.InvariantCulture);
            bad.Should().BeInRange(buffer, buffer + bytes - 1, "the fault is inside the buffer the guest freed");
            dma.FirstFault(bad, 1, stream == 0 ? DmaAccess.Read : DmaAccess.Write).Should().Be(bad, "nothing is mapped there any more");
            s.Runs.Should().HaveCount(runsBefore + 1, "one RUN, which outlived the transfer");
            s.IsRunning.Should().BeFalse("the card stopped the stream itself");
            ErrCode(stream).Should().Be((ulong)AudioDmaErr.Unmapped);
            await Viommu.UntilAsync(async () => (await guest.Run("dmesg")).Contains(
                $"stream {stream}: the card reported ERRCODE 1 (UNMAPPED) while stopped", StringComparison.Ordinal), "the driver logs the ERR interrupt");
            await Viommu.ShouldReturnTo(dma, baseline, "after the freed buffer");
            Viommu.ShouldHaveNoVfioErrors(guest.Session);
        }
        finally
        {
            await SetFault("none");
        }

        await ShouldTransferExactly(stream);
    }

    /// <summary>
    /// The fault makes the start fail (spec §9.3): -EIO to the application, one violation with the rule, ERRCODE in
    /// SD_STS, the driver's report, no mapping left; then, with the fault off, the same transfer is exact again.
    /// Returns the first bad IOVA (checked against the one the driver logged), the mappings seen, and dmesg.
    /// </summary>
    private async Task<(ulong Bad, IReadOnlyCollection<DmaMappingInfo> Seen, string Dmesg)> RefusedAtRun(int stream, string fault, string rule,
        AudioDmaErr code, string codeName, Regex driverLog, Func<Match, ulong> expectedIova)
    {
        var card = guest.Audio;
        var s = card.Streams[stream];
        var dma = card.Function.DmaMappings;
        await PrepareFile(stream);
        guest.ExpectViolations(rule);
        ulong bad;
        IReadOnlyCollection<DmaMappingInfo> seen;
        string dmesg;
        try
        {
            await SetFault(fault);
            var baseline = dma.Mappings;
            long violationsBefore = card.Checker.Count;
            int runsBefore = s.Runs.Count;

            var (broken, watched) = await Viommu.WatchMappings(dma, () => guest.Session.RunAsync(
                Transfer(stream, fault == "past_end" ? PastEndPeriods : Viommu.Periods), TimeSpan.FromSeconds(60)));
            seen = watched;

            broken.ExitCode.Should().NotBe(0, $"the trigger's -EIO fails the transfer:\n{broken.Output}");
            broken.Output.Should().Contain("Input/output error");
            var v = guest.AudioViolations().Skip((int)violationsBefore).Should().ContainSingle("one refused start is one violation").Subject;
            v.RuleName.Should().Be(rule);
            v.Details.Stream.Should().Be(stream, "the violation names the stream");
            v.Details.Descriptor.Should().NotBeNull($"a descriptor is at fault: {v.Report()}");
            dmesg = await guest.Run("dmesg");
            var logged = driverLog.Match(dmesg);
            logged.Success.Should().BeTrue($"the driver logs where its descriptors point:\n{dmesg}");
            logged.Groups["stream"].Value.Should().Be(stream.ToString(CultureInfo.InvariantCulture));
            bad = expectedIova(logged);
            v.Details.BadAddress.Should().Be(bad, "the violation names the IOVA the driver programmed wrongly");
            s.Runs.Should().HaveCount(runsBefore, "a refused RUN moves no byte");
            ErrCode(stream).Should().Be((ulong)code);
            dmesg.Should().Contain($"stream {stream}: the card refused to start: ERRCODE {(int)code} ({codeName})");
            dmesg.Should().NotContainAny(FaultScenario.KernelTrouble);
            await Viommu.ShouldReturnTo(dma, baseline, $"after fault {fault}");
            Viommu.ShouldHaveNoVfioErrors(guest.Session);
        }
        finally
        {
            await SetFault("none");
        }

        await ShouldTransferExactly(stream);
        return (bad, seen, dmesg);
    }

    private async Task SetFault(string fault)
    {
        await guest.Run("dmesg -c >/dev/null");
        await FaultScenario.SetFault(guest, fault);
    }

    private static string FileName(int stream) => string.Create(CultureInfo.InvariantCulture, $"viommu-fault-{stream}.raw");

    private static byte[] Samples(int stream) => AudioFiles.Samples(Format, Frames, seed: 9400 + stream);

    private async Task PrepareFile(int stream)
    {
        if (!guest.Audio.Streams[stream].IsCapture)
        {
            await System.IO.File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, FileName(stream)), Samples(stream));
        }
    }

    /// <summary>
    /// The transfer of a test: <see cref="Viommu.Periods"/> periods, or 3 where past_end needs the 3-page buffer; through
    /// the guest's /tmp, not the 9p share (seen: an arecord writing to the share on a loaded host overran its 16-period
    /// buffer and restarted, two RUNs for one command).
    /// </summary>
    private string Transfer(int stream, int periods = Viommu.Periods) => guest.Audio.Streams[stream].IsCapture
        ? Viommu.RecordToTmp(FileName(stream), f => AlsaCommands.Record(AlsaCommands.StreamDevice(0, guest.Audio.Model, stream), f, Format, Frames, PeriodFrames, periods))
        : Viommu.PlayFromTmp(FileName(stream), f => AlsaCommands.Play(AlsaCommands.StreamDevice(0, guest.Audio.Model, stream), f, Format, PeriodFrames, periods));

    private ulong ErrCode(int stream) =>
        (guest.Audio.PeekRegister((AudioRegister)AudioSdBlock.Offset(stream, AudioSdRegister.Sts)) & AudioSdFields.Sts.Errcode) >> AudioSdFields.Sts.ErrcodeShift;

    /// <summary>With the fault off, the same driver and card move the same transfer bit-exact again.</summary>
    private async Task ShouldTransferExactly(int stream)
    {
        var run = await CardRuns.RunOnce(guest, stream, Transfer(stream), Format, Frames);
        if (guest.Audio.Streams[stream].IsCapture)
        {
            var tone = AudioMixer.Tone(Format, Frames);
            CardRuns.ShouldStartWith(await System.IO.File.ReadAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, FileName(stream))), tone, "arecord gets the tone again");
            CardRuns.ShouldStartWith(run.Bytes, tone, "the card wrote the tone");
        }
        else
        {
            CardRuns.ShouldStartWith(run.Bytes, Samples(stream), "the sink gets the file again");
        }

        (await guest.Run("dmesg")).Should().NotContainAny(FaultScenario.KernelTrouble);
    }

    [GeneratedRegex(@"stream (?<stream>\d+): fault past_end: descriptor \d+ at (?<at>0x[0-9a-f]+), past the (?<bytes>\d+)-byte buffer at (?<buffer>0x[0-9a-f]+)")]
    private static partial Regex PastEndLog();

    [GeneratedRegex(@"stream (?<stream>\d+): fault wrong_dir: descriptors at (?<at>0x[0-9a-f]+), mapped DMA_TO_DEVICE")]
    private static partial Regex WrongDirLog();

    [GeneratedRegex(@"stream (?<stream>\d+): fault use_after_unmap: RUN stays set at stop; buffer at (?<buffer>0x[0-9a-f]+), (?<bytes>\d+) bytes")]
    private static partial Regex UseAfterUnmapLog();
}
