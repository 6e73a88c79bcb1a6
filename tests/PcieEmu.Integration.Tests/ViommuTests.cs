using System.Text.RegularExpressions;
using PcieEmu.Devices.Audio;
using PcieEmu.Harness;
using PcieEmu.Harness.Audio;
using PcieEmu.Pci.Dma;

namespace PcieEmu.Integration.Tests;

/// <summary>The default card behind QEMU's emulated Intel IOMMU, guest DMA remapping on and strict (`pcieemu boot --viommu`).</summary>
public sealed class ViommuGuest : GuestFixture
{
    protected override GuestSessionOptions Options => new() { Viommu = true };
}

/// <summary>The pro card (8 streams, up to 32 channels) behind the vIOMMU.</summary>
public sealed class ViommuProGuest : GuestFixture
{
    protected override GuestSessionOptions Options => new() { Viommu = true, ModelPaths = [ProGuest.ModelPath] };
}

/// <summary>
/// What a vIOMMU session looks like from the server, and the checks every vIOMMU test shares. With the guest's DMA
/// remapping on, QEMU no longer maps guest RAM at its physical addresses: it sends one DMA_MAP per IOMMU page the
/// driver maps (4 KiB, or a 2 MiB superpage), at an IOVA the guest's allocator chose (top-down from 4 GiB), and, in
/// strict mode, the DMA_UNMAP before the guest's dma_unmap returns.
/// </summary>
internal static partial class Viommu
{
    /// <summary>Page sizes of QEMU's VT-d second-level tables (4 KiB, 2 MiB, 1 GiB): one DMA_MAP each.</summary>
    public static readonly ulong[] IommuPageSizes = [0x1000, 0x20_0000, 0x4000_0000];

    /// <summary>
    /// Periods per buffer in these tests: 16 of about 21 ms. Linux 6.1 gives up on a transfer with EIO ("capture read
    /// timeout (DMA or IRQ trouble?)") when no period completes within max(100 ms, 1.1 × the buffer), and a card whose
    /// host is loaded can miss a short buffer's deadline (seen with 4 × 21 ms on a busy 2-core host).
    /// </summary>
    public const int Periods = 16;

    public static string Play(string file, AudioFormat format) =>
        PlayFromTmp(file, f => AlsaCommands.Play(AudioFiles.PlaybackDevice, f, format, AlsaCommands.PeriodFrames(format.Rate), Periods));

    public static string Record(string file, AudioFormat format, int frames) =>
        RecordToTmp(file, f => AlsaCommands.Record(AudioFiles.CaptureDevice, f, format, frames, AlsaCommands.PeriodFrames(format.Rate), Periods));

    /// <summary>
    /// Plays <paramref name="file"/> of the share from a copy in the guest's /tmp. aplay reading the 9p share stalls
    /// whenever the loaded host serves 9p slowly; a stall longer than the buffer is an underrun, which aplay answers
    /// with a second RUN. The share is not what these tests test. One subshell, so it can run in the background.
    /// </summary>
    public static string PlayFromTmp(string file, Func<string, string> play) =>
        $"(cp {file} /tmp/{file} && {play("/tmp/" + file)}; rc=$?; rm -f /tmp/{file}; exit $rc)";

    /// <summary>Records into the guest's /tmp, then copies the file to the share (an overrun otherwise, see <see cref="PlayFromTmp"/>).</summary>
    public static string RecordToTmp(string file, Func<string, string> record) =>
        $"({record("/tmp/" + file)} && cp /tmp/{file} {file}; rc=$?; rm -f /tmp/{file}; exit $rc)";

    /// <summary>The buffer <see cref="Play"/> and <see cref="Record"/> ask for, in bytes.</summary>
    public static long BufferBytes(AudioFormat format) => (long)Periods * AlsaCommands.PeriodFrames(format.Rate) * format.FrameBytes;

    /// <summary>Generous, for a loaded 2-core host running TCG guests.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>Guest RAM ends here (it starts at 0): an IOVA at or above it cannot be a guest-physical RAM address.</summary>
    public static ulong RamEnd(GuestFixture guest) => (ulong)new GuestSessionOptions().MemoryMiB << 20;

    /// <summary>
    /// Runs <paramref name="action"/> and returns, with its result, every mapping the card's table held at any moment
    /// meanwhile (the table is snapshot after each map and unmap, and at both ends).
    /// </summary>
    public static async Task<(T Result, IReadOnlyCollection<DmaMappingInfo> Seen)> WatchMappings<T>(DmaController dma, Func<Task<T>> action)
    {
        var seen = new HashSet<DmaMappingInfo>(dma.Mappings);
        var sync = new object();
        void Snapshot()
        {
            var now = dma.Mappings;
            lock (sync)
            {
                seen.UnionWith(now);
            }
        }

        dma.MappingsChanged += Snapshot;
        try
        {
            var result = await action();
            Snapshot();
            lock (sync)
            {
                return (result, seen.ToList());
            }
        }
        finally
        {
            dma.MappingsChanged -= Snapshot;
        }
    }

    /// <summary>
    /// The mappings of one guest command beyond <paramref name="baseline"/> must be the IOMMU's, not guest RAM at its
    /// physical addresses: IOMMU-page-sized, at IOVAs above guest RAM; and no mapping of RAM existed meanwhile, so every
    /// address the card used was remapped. Returns the new mappings.
    /// </summary>
    public static List<DmaMappingInfo> ShouldBeIommuMappings(GuestFixture guest, IReadOnlyCollection<DmaMappingInfo> seen,
        IReadOnlyCollection<DmaMappingInfo> baseline, long bufferBytes, string what)
    {
        ulong ramEnd = RamEnd(guest);
        var added = seen.Except(baseline).ToList();
        added.Should().NotBeEmpty($"{what}: the driver's buffers are mapped through the IOMMU while it runs");
        added.Should().OnlyContain(m => IommuPageSizes.Contains(m.Size), $"{what}: one DMA_MAP per IOMMU page");
        added.Should().OnlyContain(m => m.Iova >= ramEnd, $"{what}: IOVAs the guest's IOMMU allocator chose, none a guest-physical RAM address (RAM ends at 0x{ramEnd:x})");
        added.Should().OnlyContain(m => m.BackingKind.StartsWith("mmap", StringComparison.Ordinal), $"{what}: each page arrives with the memfd of guest RAM");
        long mapped = added.Sum(m => (long)m.Size);
        mapped.Should().BeGreaterThanOrEqualTo(bufferBytes, $"{what}: the whole buffer was mapped ({added.Count} mappings)");
        seen.Should().NotContain(m => m.Iova < ramEnd, $"{what}: no identity mapping of guest RAM existed, so no DMA of the card can have used one");
        return added;
    }

    /// <summary>Waits until the table is back to <paramref name="baseline"/>: in strict mode the guest unmapped every buffer it freed.</summary>
    public static async Task ShouldReturnTo(DmaController dma, IReadOnlyCollection<DmaMappingInfo> baseline, string what)
    {
        await Until(() => dma.Count == baseline.Count, $"{what}: the table returns to its {baseline.Count} mappings (now {dma.Count})");
        dma.Mappings.Should().BeEquivalentTo(baseline, $"{what}: no stale mapping is left behind");
    }

    /// <summary>Lines of QEMU's log that report a vfio failure (a refused DMA_MAP/DMA_UNMAP, an error reply, an errno).</summary>
    public static List<string> VfioErrors(GuestSession session)
    {
        using var s = new FileStream(session.QemuLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var r = new StreamReader(s);
        return [.. r.ReadToEnd().Split('\n').Where(l => VfioError().IsMatch(l))];
    }

    public static void ShouldHaveNoVfioErrors(GuestSession session) =>
        VfioErrors(session).Should().BeEmpty($"QEMU reports no vfio failure ({session.QemuLog})");

    /// <summary>Polls <paramref name="condition"/> until it holds or <see cref="Deadline"/> passes (no fixed sleeps).</summary>
    public static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            DateTime.UtcNow.Should().BeBefore(deadline, $"waited {Deadline.TotalSeconds:F0} s for: {what}");
            await Task.Delay(10);
        }
    }

    /// <summary>Like <see cref="Until"/> for a condition that asks the guest.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!await condition())
        {
            DateTime.UtcNow.Should().BeBefore(deadline, $"waited {Deadline.TotalSeconds:F0} s for: {what}");
            await Task.Delay(50);
        }
    }

    [GeneratedRegex(@"vfio|error reply|= -\d", RegexOptions.IgnoreCase)]
    private static partial Regex VfioError();
}

/// <summary>
/// aplay and arecord through the driver with the card behind the vIOMMU: bit-exact, every buffer mapped page by page at
/// guest-chosen IOVAs while it is in use and unmapped when the guest frees it, and QEMU reporting no vfio error.
/// </summary>
public sealed class ViommuAudioTests(ViommuGuest guest) : IClassFixture<ViommuGuest>
{
    private const int Playback = 0;
    private const int Capture = 1;

    [Fact]
    public async Task The_guest_runs_with_dma_remapping_on_in_strict_mode()
    {
        string dmesg = await guest.Run("dmesg");

        dmesg.Should().Contain("DMAR: IOMMU enabled").And.Contain("strict mode");
        string group = await guest.Run("dev=$(ls -d /sys/bus/pci/drivers/pcieemu_audio/*:*:*.* | head -n 1) && cat $dev/iommu_group/type");
        group.Trim().Should().Be("DMA", "the card's IOMMU group translates (a DMA domain, not identity passthrough)");
    }

    [Theory]
    [InlineData(SampleFormat.S16Le, 48000)]
    [InlineData(SampleFormat.S24Le, 44100)]
    [InlineData(SampleFormat.S32Le, 192000)]
    [InlineData(SampleFormat.FloatLe, 96000)]
    public async Task Playback_is_bit_exact_through_iommu_mappings_that_go_away_with_the_buffer(SampleFormat sampleFormat, int rate)
    {
        var format = new AudioFormat(sampleFormat, rate, 2);
        int frames = rate / 4;
        var samples = AudioFiles.Samples(format, frames, seed: 9000 + rate + (int)sampleFormat);
        string file = $"viommu-play-{sampleFormat}-{rate}.raw";
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, file), samples);
        var dma = guest.Audio.Function.DmaMappings;
        var baseline = dma.Mappings;
        var stats = guest.Audio.Function.Statistics;
        long read = stats.DmaReadBytes;

        var (run, seen) = await Viommu.WatchMappings(dma, () => CardRuns.RunOnce(guest, Playback, Viommu.Play(file, format), format, frames));

        CardRuns.ShouldStartWith(run.Bytes, samples, $"the sink gets the file's samples through the IOMMU ({format})");
        (stats.DmaReadBytes - read).Should().BeGreaterThanOrEqualTo(samples.Length, "the card read them by DMA through the table");
        var added = Viommu.ShouldBeIommuMappings(guest, seen, baseline, Viommu.BufferBytes(format), $"aplay {format}");
        added.Should().OnlyContain(m => m.Access == DmaAccess.ReadWrite, "ALSA's buffer and the list are coherent (bidirectional) allocations");
        await Viommu.ShouldReturnTo(dma, baseline, $"after aplay {format}");
        Viommu.ShouldHaveNoVfioErrors(guest.Session);
    }

    [Theory]
    [InlineData(SampleFormat.S16Le, 48000)]
    [InlineData(SampleFormat.S32Le, 192000)]
    public async Task Capture_is_bit_exact_through_iommu_mappings_that_go_away_with_the_buffer(SampleFormat sampleFormat, int rate)
    {
        var format = new AudioFormat(sampleFormat, rate, 2);
        int frames = rate / 4;
        string file = $"viommu-rec-{sampleFormat}-{rate}.raw";
        var dma = guest.Audio.Function.DmaMappings;
        var baseline = dma.Mappings;

        var (run, seen) = await Viommu.WatchMappings(dma, () => CardRuns.RunOnce(guest, Capture, Viommu.Record(file, format, frames), format, frames));

        var recorded = await File.ReadAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, file));
        var tone = AudioMixer.Tone(format, frames);
        recorded.Should().HaveCount(tone.Length);
        CardRuns.ShouldStartWith(recorded, tone, $"arecord gets the tone:440,660 through the IOMMU ({format}, spec §13)");
        CardRuns.ShouldStartWith(run.Bytes, tone, "what the card wrote");
        Viommu.ShouldBeIommuMappings(guest, seen, baseline, Viommu.BufferBytes(format), $"arecord {format}");
        await Viommu.ShouldReturnTo(dma, baseline, $"after arecord {format}");
        Viommu.ShouldHaveNoVfioErrors(guest.Session);
    }

    [Fact]
    public async Task Playing_and_recording_at_once_maps_both_buffers_apart_and_both_are_exact()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var samples = AudioFiles.Samples(format, 24000, seed: 9100);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "viommu-duplex.raw"), samples);
        var dma = guest.Audio.Function.DmaMappings;
        var baseline = dma.Mappings;
        int playRuns = guest.Audio.Streams[Playback].Runs.Count;
        long violations = guest.Audio.Checker.Count;

        var (_, seen) = await Viommu.WatchMappings(dma, () => guest.Run(AlsaCommands.RecordWhilePlaying(
            Viommu.Record("viommu-duplex-rec.raw", format, 48000), Viommu.Play("viommu-duplex.raw", format), card: 0, captureDevice: AlsaCommands.PcmDevice(guest.Audio.Model, Capture),
            TimeSpan.FromSeconds(30))));

        guest.Audio.Streams[Playback].Runs.Should().HaveCount(playRuns + 1);
        CardRuns.ShouldStartWith(guest.Audio.Streams[Playback].Runs[^1].Bytes, samples, "playback while capture runs");
        var recorded = await File.ReadAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "viommu-duplex-rec.raw"));
        CardRuns.ShouldStartWith(recorded, AudioMixer.Tone(format, 48000), "capture while playback runs");
        guest.Audio.Checker.Count.Should().Be(violations, "the driver broke no rule");
        var added = Viommu.ShouldBeIommuMappings(guest, seen, baseline, 2 * Viommu.BufferBytes(format), "aplay + arecord");
        added.Select(m => m.Iova).Should().OnlyHaveUniqueItems("two live buffers never share an IOVA");
        await Viommu.ShouldReturnTo(dma, baseline, "after aplay + arecord");
        Viommu.ShouldHaveNoVfioErrors(guest.Session);
    }
}

/// <summary>The pro card behind the vIOMMU: large multichannel buffers (hundreds of pages each) stay bit-exact.</summary>
public sealed class ViommuProModelTests(ViommuProGuest guest) : IClassFixture<ViommuProGuest>
{
    /// <remarks>
    /// 32 channels at 96 kHz, not 192 kHz: the driver's 4 MiB buffer (1,024 IOMMU pages either way) then holds 341 ms
    /// instead of 171 ms, and a loaded host once stalled the TCG guest longer than 171 ms: an underrun, which aplay
    /// answers with a second RUN. The page count, not the rate, is what the IOMMU sees.
    /// </remarks>
    [Theory]
    [InlineData(3, 32, SampleFormat.S32Le, 96000)]
    [InlineData(1, 8, SampleFormat.S24Le, 96000)]
    public async Task Multichannel_playback_is_bit_exact_through_the_iommu(int streamIndex, int channels, SampleFormat sampleFormat, int rate)
    {
        var format = new AudioFormat(sampleFormat, rate, channels);
        int frames = rate / 4;
        var samples = AudioFiles.Samples(format, frames, seed: 9200 + streamIndex);
        string file = $"viommu-pro-{streamIndex}.raw";
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, file), samples);
        int periodFrames = PeriodFrames(format);
        var dma = guest.Audio.Function.DmaMappings;
        var baseline = dma.Mappings;

        // From /tmp: the 9p share is not what is being tested and must not starve aplay.
        var (run, seen) = await Viommu.WatchMappings(dma, () => CardRuns.RunOnce(guest, streamIndex,
            $"cp {file} /tmp/{file} && {AlsaCommands.Play(AlsaCommands.StreamDevice(0, guest.Audio.Model, streamIndex), "/tmp/" + file, format, periodFrames, Periods(periodFrames, format))}; rc=$?; rm -f /tmp/{file}; exit $rc",
            format, frames));

        CardRuns.ShouldStartWith(run.Bytes, samples, $"{channels} channels through the IOMMU ({format})");
        Viommu.ShouldBeIommuMappings(guest, seen, baseline, (long)Periods(periodFrames, format) * periodFrames * format.FrameBytes, $"pro stream {streamIndex}");
        await Viommu.ShouldReturnTo(dma, baseline, $"after pro stream {streamIndex}");
        Viommu.ShouldHaveNoVfioErrors(guest.Session);
    }

    [Fact]
    public async Task Multichannel_capture_is_bit_exact_through_the_iommu()
    {
        const int stream = 6;
        var format = new AudioFormat(SampleFormat.S32Le, 48000, 16);
        const int frames = 24000;
        var dma = guest.Audio.Function.DmaMappings;
        var baseline = dma.Mappings;

        var (run, seen) = await Viommu.WatchMappings(dma, () => CardRuns.RunOnce(guest, stream,
            $"cd /tmp && {AlsaCommands.Record(AlsaCommands.StreamDevice(0, guest.Audio.Model, stream), "viommu-pro-rec.raw", format, frames, PeriodFrames(format), Periods(PeriodFrames(format), format))} && cp viommu-pro-rec.raw /mnt/host/; rc=$?; rm -f viommu-pro-rec.raw; exit $rc",
            format, frames));

        var tone = AudioMixer.Tone(format, frames);
        var recorded = await File.ReadAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "viommu-pro-rec.raw"));
        recorded.Should().HaveCount(tone.Length);
        CardRuns.ShouldStartWith(recorded, tone, "16 channels of tone:440,660, later channels repeating 660 Hz (spec §13)");
        CardRuns.ShouldStartWith(run.Bytes, tone, "what the card wrote");
        Viommu.ShouldBeIommuMappings(guest, seen, baseline, (long)Periods(PeriodFrames(format), format) * PeriodFrames(format) * format.FrameBytes, "pro capture");
        await Viommu.ShouldReturnTo(dma, baseline, "after pro capture");
        Viommu.ShouldHaveNoVfioErrors(guest.Session);
    }

    /// <summary>About 21 ms, at most MAXSEG bytes per period (pro model: 256 KiB, spec §4).</summary>
    private int PeriodFrames(AudioFormat format) =>
        Math.Min(AlsaCommands.PeriodFrames(format.Rate), (int)(guest.Audio.Model.Dma.MaxSegmentBytes / format.FrameBytes));

    /// <summary><see cref="Viommu.Periods"/>, as far as the driver's 4 MiB buffer allows.</summary>
    private static int Periods(int periodFrames, AudioFormat format) =>
        Math.Min(Viommu.Periods, (4 << 20) / (periodFrames * format.FrameBytes));
}

/// <summary>
/// The whole life of a vIOMMU session, its own guest: when the guest powers off, its IOMMU goes off and QEMU unmaps
/// the whole IOVA space in power-of-two chunks (each holding several mappings or none) before it maps guest RAM back
/// at its physical addresses; the server must end that with no IOMMU mapping left, and release everything at EOF.
/// </summary>
public sealed class ViommuShutdownTests
{
    [Fact]
    public async Task Power_off_leaves_no_iommu_mapping_behind_and_the_table_empties_at_eof()
    {
        var session = await GuestSession.StartAsync(new GuestSessionOptions { Viommu = true }, GuestFixture.Loggers);
        await using (session)
        {
            var card = (PcieEmu.Devices.AudioCard.AudioCard)session.Cards[0].Card;
            var dma = card.Function.DmaMappings;
            var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
            await File.WriteAllBytesAsync(Path.Combine(session.ShareDirectory, "off.raw"), AudioFiles.Samples(format, 12000, seed: 9300));
            var (_, used) = await Viommu.WatchMappings(dma, () => session.RunCheckedAsync(
                $"{Viommu.Play("off.raw", format)} && {Viommu.Record("off-rec.raw", format, 12000)}"));
            ulong ramEnd = (ulong)new GuestSessionOptions().MemoryMiB << 20;
            var iommuPages = used.Where(m => m.Iova >= ramEnd && Viommu.IommuPageSizes.Contains(m.Size)).ToList();
            iommuPages.Should().NotBeEmpty("the buffers were mapped through the IOMMU");

            var snapshots = new List<IReadOnlyList<DmaMappingInfo>>();
            void Snapshot()
            {
                var now = dma.Mappings;
                lock (snapshots)
                {
                    snapshots.Add(now);
                }
            }

            dma.MappingsChanged += Snapshot;
            try
            {
                await session.Agent.QuitAsync();
                await Viommu.Until(() => session.QemuExited, "the guest powers off and QEMU exits");
                await Viommu.Until(() => dma.Count == 0, "the server releases every mapping when QEMU's socket closes (pre-session baseline: none)");
            }
            finally
            {
                dma.MappingsChanged -= Snapshot;
            }

            List<IReadOnlyList<DmaMappingInfo>> all;
            lock (snapshots)
            {
                all = [.. snapshots];
            }

            var atExit = all.LastOrDefault(s => s.Count > 0);
            atExit.Should().NotBeNull("QEMU mapped guest RAM back when the guest's IOMMU went off");
            atExit!.Intersect(iommuPages).Should().BeEmpty("the power-off unmaps removed every IOMMU page, none is stale");
            ulong covered = atExit!.Where(m => m.Iova < ramEnd).Aggregate(0UL, (sum, m) => sum + m.Size);
            covered.Should().Be(ramEnd, "with the IOMMU off, all guest RAM is mapped at its physical addresses again (no DMA_MAP refused as EEXIST)");
            Viommu.ShouldHaveNoVfioErrors(session);
            session.AssertNoViolations(); // the driver broke no rule of the card, its shutdown under the IOMMU included
        }
    }
}
