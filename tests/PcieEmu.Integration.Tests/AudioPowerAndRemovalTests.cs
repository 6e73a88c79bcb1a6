using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Harness;
using PcieEmu.Harness.Audio;
using PcieEmu.Harness.Guest;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;

namespace PcieEmu.Integration.Tests;

/// <summary>
/// A guest for system suspend. The 9p share is not mounted at boot (the agent's working directory would be on it):
/// after a suspend/resume cycle 9p hangs in the guest, because virtio-9p has no freeze/restore. The test mounts the
/// share only to copy its files to /tmp and unmounts it before suspending; every command then runs in /tmp.
/// </summary>
public sealed class SuspendGuest : GuestFixture
{
    protected override GuestSessionOptions Options => new() { ExtraKernelArguments = ["pcieemu.share=0"] };
}

/// <summary>A guest whose driver is removed and loaded again while idle.</summary>
public sealed class IdleRemovalGuest : GuestFixture;

/// <summary>A guest whose device is unbound from the driver while aplay plays.</summary>
public sealed class HotRemovalGuest : GuestFixture;

/// <summary>Shell lines and checks shared by the power and removal tests.</summary>
internal static class DriverLifecycle
{
    /// <summary>Where qemu/guest/init finds the project's drivers (pcieemu.drivers=… → insmod /lib/modules/pcieemu/&lt;name&gt;.ko).</summary>
    public const string ModulePath = "/lib/modules/pcieemu/pcieemu_audio.ko";

    public const string DriverDir = "/sys/bus/pci/drivers/pcieemu_audio";

    public const string PlaybackStatus = "/proc/asound/card0/pcm0p/sub0/status";

    /// <summary>Waits (up to 10 s) until stream 0's substream runs.</summary>
    public const string WaitUntilPlaying =
        "i=0; until grep -qs RUNNING " + PlaybackStatus + "; do i=$((i+1)); if [ $i -gt 1000 ]; then echo 'aplay did not start' >&2; exit 1; fi; sleep 0.01; done";

    public static string Sha256(byte[] data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

    /// <summary>What the card's sink gets for <paramref name="samples"/> at the given playback levels (spec §12).</summary>
    public static byte[] Played(byte[] samples, AudioFormat format, byte left, byte right) =>
        AudioMixer.Gained(samples, format, new ChannelGain(left, false), new ChannelGain(right, false));

    /// <summary>The card as the driver leaves it when it lets go: no bus mastering, MSI-X off, no interrupt enabled.</summary>
    public static void ShouldBeReleased(AudioCard card, string why)
    {
        (card.Function.Command & PciCommand.BusMaster).Should().Be(PciCommand.None, $"{why}: the driver cleared Bus Master Enable");
        card.Function.Capability<MsixCapability>()!.Enabled.Should().BeFalse($"{why}: the driver freed its vectors (MSI-X Enable clear)");
        card.PeekRegister(AudioRegister.Inten).Should().Be(0UL, $"{why}: INTEN = 0 (spec §8 step 8)");
        card.Streams.Should().OnlyContain(s => !s.IsRunning, $"{why}: no stream runs");
    }

    /// <summary>The card as a probed driver sets it up (spec §8 steps 1–6).</summary>
    public static void ShouldBeInUse(AudioCard card, string why)
    {
        (card.Function.Command & PciCommand.BusMaster).Should().Be(PciCommand.BusMaster, $"{why}: bus mastering on");
        card.Function.Capability<MsixCapability>()!.Enabled.Should().BeTrue($"{why}: MSI-X on");
        card.Function.PowerState.Should().Be(PowerState.D0);
    }

    public static async Task ShouldBeCleanKernelLog(GuestFixture guest, string why) =>
        (await guest.Run("dmesg")).Should().NotContainAny(FaultScenario.KernelTrouble, why);

    /// <summary>aplay of a fresh file through the share: the sink gets it bit-exact at 0 dB.</summary>
    public static async Task ShouldPlayExactly(GuestFixture guest, string file, int seed)
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var samples = AudioFiles.Samples(format, 12000, seed);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, file), samples);

        var run = await CardRuns.RunOnce(guest, 0, AudioFiles.Play(file, format), format, samples.Length / format.FrameBytes);

        CardRuns.ShouldStartWith(run.Bytes, samples, "playback is exact again");
    }
}

/// <summary>
/// System suspend while aplay plays (kernel pm_test "devices": every device's suspend and resume callbacks run,
/// the platform is not entered). The driver stops the streams and puts the card in D3hot; on resume it returns it
/// to D0 and rewrites its mixer. Without SNDRV_PCM_INFO_RESUME, aplay prepares and restarts the stream.
/// </summary>
public sealed class AudioSuspendTests(SuspendGuest guest) : IClassFixture<SuspendGuest>
{
    private const int PeriodFrames = 4800;
    private const int Periods = 8;

    [Fact]
    public async Task Aplay_survives_suspend_to_D3hot_and_back_and_the_mixer_and_samples_stay_exact_spec_2_7_12()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var samples = AudioFiles.Samples(format, 3 * 48000, seed: 7100);
        var after = AudioFiles.Samples(format, 12000, seed: 7101);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "suspend.raw"), samples);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "after.raw"), after);
        string copied = await guest.Run(
            $"modprobe 9pnet_virtio && modprobe 9p && mkdir -p /mnt/host && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 {guest.Session.Artifacts.ShareTag} /mnt/host " +
            "&& cp /mnt/host/suspend.raw /mnt/host/after.raw /tmp/ && umount /mnt/host && cd /tmp && sha256sum suspend.raw after.raw");
        copied.Should().Contain(DriverLifecycle.Sha256(samples)).And.Contain(DriverLifecycle.Sha256(after), "the files reached /tmp intact");

        await guest.Run($"cd /tmp && {AudioMixer.Set(guest.Audio, AudioMixer.PlaybackVolume, 0, "172,192")} && {AudioMixer.Set(guest.Audio, AudioMixer.CaptureVolume, 1, "204,192")}");
        AudioMixer.ChannelVolume(guest.Audio, 0, 0).Should().Be(172UL);
        AudioMixer.ChannelVolume(guest.Audio, 1, 0).Should().Be(204UL);
        var stream = guest.Audio.Streams[0];
        int runsBefore = stream.Runs.Count;
        long violations = guest.Audio.Checker.Count;
        var powerStates = new ConcurrentQueue<PowerState>();
        using var stopWatching = new CancellationTokenSource();
        var watcher = WatchPowerState(guest.Audio, powerStates, stopWatching.Token);

        string play = string.Create(CultureInfo.InvariantCulture,
            $"aplay -D {AudioFiles.PlaybackDevice} {AlsaCommands.RawArgs(format)} --period-size={PeriodFrames} --buffer-size={PeriodFrames * Periods} /tmp/suspend.raw");
        GuestCommandResult suspended;
        try
        {
            suspended = await guest.Session.RunAsync(
                "cd /tmp && dmesg -c >/dev/null && echo 1 > /sys/module/suspend/parameters/pm_test_delay && echo devices > /sys/power/pm_test && " +
                $"{{ {play} > /tmp/aplay.log 2>&1 & pid=$!; {DriverLifecycle.WaitUntilPlaying}; " +
                "echo mem > /sys/power/state; echo \"state=$?\"; wait $pid; echo \"aplay=$?\"; echo none > /sys/power/pm_test; cat /tmp/aplay.log; }",
                TimeSpan.FromSeconds(90));
        }
        finally
        {
            await stopWatching.CancelAsync();
            await watcher;
        }

        suspended.Output.Should().Contain("state=0", $"the suspend cycle completed:\n{suspended.Output}");
        suspended.Output.Should().Contain("aplay=0", "aplay recovers from the suspend and plays to the end");
        suspended.Output.Should().Contain("Suspended", "the stream was suspended while it ran");
        Collapse(powerStates).Should().ContainInConsecutiveOrder([PowerState.D0, PowerState.D3Hot, PowerState.D0],
            "the card saw PMCSR go to D3hot on suspend and back to D0 on resume (spec §2, §7)");
        guest.Audio.Function.PowerState.Should().Be(PowerState.D0);
        DriverLifecycle.ShouldBeInUse(guest.Audio, "after resume");

        var expected = DriverLifecycle.Played(samples, format, 172, 192);
        var runs = stream.Runs.Skip(runsBefore).Select(r => r.Bytes).ToList();
        runs.Should().HaveCount(2, "one RUN before the suspend, one after aplay prepared again");
        int frameBytes = format.FrameBytes;
        runs[0].Length.Should().BeInRange(frameBytes, expected.Length - 1, "the first run ended at the suspend, inside the file");
        runs[0].AsSpan().SequenceEqual(expected.AsSpan(0, runs[0].Length)).Should().BeTrue(
            $"until the suspend the sink got the file at −10 dB left (spec §12); first difference at byte {FrameSearch.FirstDifference(runs[0], expected)}");
        int resumedAt = FrameSearch.Find(expected, runs[1].AsSpan(0, Math.Min(runs[1].Length, 64 * frameBytes)), frameBytes);
        resumedAt.Should().BeInRange(runs[0].Length, runs[0].Length + (PeriodFrames * Periods * frameBytes),
            "after resume aplay continues from its file position; only what sat in the buffer at the suspend is skipped");
        runs[1].Length.Should().BeGreaterThanOrEqualTo(expected.Length - resumedAt);
        runs[1].AsSpan(0, expected.Length - resumedAt).SequenceEqual(expected.AsSpan(resumedAt)).Should().BeTrue(
            $"the second run is the rest of the file to its end, still at −10 dB left; first difference at byte {FrameSearch.FirstDifference(runs[1], expected.AsSpan(resumedAt).ToArray())}");
        guest.Audio.Checker.Count.Should().Be(violations, "suspend and resume broke no rule of the card");

        string mixer = await guest.Run($"cd /tmp && {AudioMixer.Get(guest.Audio, AudioMixer.PlaybackVolume, 0)} && {AudioMixer.Get(guest.Audio, AudioMixer.CaptureVolume, 1)}");
        mixer.Should().Contain(": values=172,192").And.Contain(": values=204,192", "the controls keep their values");
        AudioMixer.ChannelVolume(guest.Audio, 0, 0).Should().Be(172UL, "the driver's mixer values survive in SD_CHVOL (No_Soft_Reset, then restored)");
        AudioMixer.ChannelVolume(guest.Audio, 0, 1).Should().Be(192UL);
        AudioMixer.ChannelVolume(guest.Audio, 1, 0).Should().Be(204UL);
        string log = await guest.Run("cd /tmp && dmesg");
        log.Should().Contain("PM: suspend exit").And.NotContainAny(FaultScenario.KernelTrouble, "suspend and resume are clean");

        await ShouldPlayAndRecordExactlyAfterResume(format, after);
    }

    /// <summary>After the cycle: a new aplay and arecord are bit-exact with the levels set before the suspend.</summary>
    private async Task ShouldPlayAndRecordExactlyAfterResume(AudioFormat format, byte[] after)
    {
        var playback = guest.Audio.Streams[0];
        var capture = guest.Audio.Streams[1];
        int playRuns = playback.Runs.Count;
        int recordRuns = capture.Runs.Count;
        long violations = guest.Audio.Checker.Count;
        var tone = AudioMixer.Gained(AudioMixer.Tone(format, 12000), format, new ChannelGain(204, false), ChannelGain.Unity);

        string sums = await guest.Run($"cd /tmp && {AudioFiles.Play("after.raw", format)} && {AudioFiles.Record("rec.raw", format, 12000)} && sha256sum rec.raw");

        playback.Runs.Should().HaveCount(playRuns + 1);
        var played = playback.Runs[^1].Bytes;
        var expected = DriverLifecycle.Played(after, format, 172, 192);
        played.AsSpan(0, expected.Length).SequenceEqual(expected).Should().BeTrue($"aplay after resume is bit-exact; first difference at byte {FrameSearch.FirstDifference(played, expected)}");
        capture.Runs.Should().HaveCount(recordRuns + 1);
        capture.Runs[^1].Bytes.AsSpan(0, tone.Length).SequenceEqual(tone).Should().BeTrue("the card writes the tone at +6 dB left after resume");
        sums.Should().Contain(DriverLifecycle.Sha256(tone), "arecord's file is exactly that");
        guest.Audio.Checker.Count.Should().Be(violations);
    }

    private static Task WatchPowerState(AudioCard card, ConcurrentQueue<PowerState> seen, CancellationToken stop) =>
        Task.Run(() => RecordPowerStates(card, seen, stop), CancellationToken.None);

    /// <summary>Records each PMCSR power state the card holds, as it changes, until <paramref name="stop"/>.</summary>
    private static async Task RecordPowerStates(AudioCard card, ConcurrentQueue<PowerState> seen, CancellationToken stop)
    {
        // The guest writes PMCSR; D3hot lasts the whole pm_test delay (1 s), far longer than one poll.
        PowerState? last = null;
        while (!stop.IsCancellationRequested)
        {
            var now = card.Function.PowerState;
            if (now != last)
            {
                seen.Enqueue(now);
                last = now;
            }

            try
            {
                await Task.Delay(1, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private static List<PowerState> Collapse(IEnumerable<PowerState> states)
    {
        var list = new List<PowerState>();
        foreach (var s in states)
        {
            if (list.Count == 0 || list[^1] != s)
            {
                list.Add(s);
            }
        }

        return list;
    }
}

/// <summary>rmmod of the idle driver lets go of the card cleanly; insmod brings it back working (spec §8 step 8).</summary>
public sealed class AudioIdleRemovalTests(IdleRemovalGuest guest) : IClassFixture<IdleRemovalGuest>
{
    [Fact]
    public async Task Rmmod_of_the_idle_driver_releases_the_card_and_insmod_brings_it_back_bit_exact()
    {
        DriverLifecycle.ShouldBeInUse(guest.Audio, "after boot");
        await DriverLifecycle.ShouldPlayExactly(guest, "idle-before.raw", seed: 7200);

        for (int cycle = 0; cycle < 2; cycle++)
        {
            await guest.Run("dmesg -c >/dev/null && rmmod pcieemu_audio");

            DriverLifecycle.ShouldBeReleased(guest.Audio, $"after rmmod {cycle + 1}");
            string gone = await guest.Run($"lsmod; cat /proc/asound/cards; ls {DriverLifecycle.DriverDir} 2>&1 || true");
            gone.Should().NotContain("pcieemu_audio ", "the module is unloaded").And.Contain("no soundcards", "its ALSA card is gone");
            await DriverLifecycle.ShouldBeCleanKernelLog(guest, "rmmod of an idle driver");

            await guest.Run($"insmod {DriverLifecycle.ModulePath}");

            (await guest.Run("dmesg")).Should().Contain("PcieEmu Audio spec 1.1: 1 playback, 1 capture, 4 vector(s) (msix)", "probe ran again");
            DriverLifecycle.ShouldBeInUse(guest.Audio, $"after insmod {cycle + 1}");
            await DriverLifecycle.ShouldPlayExactly(guest, $"idle-after-{cycle}.raw", seed: 7201 + cycle);
            await DriverLifecycle.ShouldBeCleanKernelLog(guest, "reload");
        }
    }
}

/// <summary>
/// Removal during playback (driver README "Removal"): rmmod is refused while aplay has the device open and changes
/// nothing; unbinding the device stops the stream, aplay fails, remove waits for it to close; then rmmod works and
/// the driver comes back.
/// </summary>
public sealed class AudioHotRemovalTests(HotRemovalGuest guest) : IClassFixture<HotRemovalGuest>
{
    [Fact]
    public async Task Rmmod_is_refused_during_playback_and_unbind_stops_the_stream_without_harm()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        var samples = AudioFiles.Samples(format, 8 * 48000, seed: 7300);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "long.raw"), samples);
        await guest.Run("cp long.raw /tmp/long.raw");
        var stream = guest.Audio.Streams[0];
        int runsBefore = stream.Runs.Count;
        long violations = guest.Audio.Checker.Count;
        string play = AudioFiles.Play("/tmp/long.raw", format, periodFrames: 4800, periods: 4);

        string refused = await guest.Run(
            $"dmesg -c >/dev/null; rm -f /tmp/aplay.rc; ( {play} > /tmp/aplay.log 2>&1; echo $? > /tmp/aplay.rc ) </dev/null >/dev/null 2>&1 & " +
            $"{DriverLifecycle.WaitUntilPlaying}; rmmod pcieemu_audio; echo \"rmmod=$?\"; " +
            $"echo \"refcnt=$(cat /sys/module/pcieemu_audio/refcnt)\"; grep -q RUNNING {DriverLifecycle.PlaybackStatus} && echo still-playing");

        refused.Should().NotContain("rmmod=0", $"rmmod is refused while an ALSA file is open:\n{refused}");
        refused.Should().MatchRegex("refcnt=[1-9]", "aplay's open file pins the module");
        refused.Should().Contain("still-playing", "the refused rmmod did not disturb the stream");

        string unbound = await guest.Run(
            $"echo {GuestDevice.Bdf} > {DriverLifecycle.DriverDir}/unbind; echo \"unbind=$?\"; " +
            "i=0; until [ -s /tmp/aplay.rc ]; do i=$((i+1)); [ $i -gt 1000 ] && break; sleep 0.01; done; " +
            "echo \"aplay=$(cat /tmp/aplay.rc)\"; cat /tmp/aplay.log; cat /proc/asound/cards");

        unbound.Should().Contain("unbind=0", $"unbind completes once aplay has closed the device:\n{unbound}");
        unbound.Should().MatchRegex("aplay=[1-9]", "aplay fails when its device goes away");
        // ALSA fails aplay's write with -ENODEV once the card's files are disconnected, or with -EBADFD when the
        // write was already waiting in the PCM as it became DISCONNECTED: which one depends on where aplay was.
        unbound.Should().MatchRegex("No such device|File descriptor in bad state", "the player's write fails because the device went away");
        unbound.Should().Contain("no soundcards");
        DriverLifecycle.ShouldBeReleased(guest.Audio, "after unbind");
        var runs = stream.Runs.Skip(runsBefore).Select(r => r.Bytes).ToList();
        runs.Should().ContainSingle("the refused rmmod did not restart the stream: one RUN from aplay's start to the unbind");
        runs[0].Length.Should().BeInRange(format.FrameBytes, samples.Length - 1, "the unbind cut the file short");
        runs[0].AsSpan().SequenceEqual(samples.AsSpan(0, runs[0].Length)).Should().BeTrue(
            $"what played until the unbind is the file bit-exact; first difference at byte {FrameSearch.FirstDifference(runs[0], samples)}");
        guest.Audio.Checker.Count.Should().Be(violations, "the driver broke no rule of the card while going away");
        await DriverLifecycle.ShouldBeCleanKernelLog(guest, "unbind during playback");

        await guest.Run("rmmod pcieemu_audio && ! lsmod | grep -q '^pcieemu_audio '");
        await guest.Run($"insmod {DriverLifecycle.ModulePath} && ls {DriverLifecycle.DriverDir}/{GuestDevice.Bdf}");

        DriverLifecycle.ShouldBeInUse(guest.Audio, "after insmod");
        await DriverLifecycle.ShouldPlayExactly(guest, "hot-after.raw", seed: 7301);
        await DriverLifecycle.ShouldBeCleanKernelLog(guest, "reload after unbind");
    }

    [Fact]
    public async Task Unbind_and_bind_of_the_idle_device_gives_a_working_card_again()
    {
        await guest.Run($"dmesg -c >/dev/null && echo {GuestDevice.Bdf} > {DriverLifecycle.DriverDir}/unbind");

        DriverLifecycle.ShouldBeReleased(guest.Audio, "after unbind");

        await guest.Run($"echo {GuestDevice.Bdf} > {DriverLifecycle.DriverDir}/bind && ls {DriverLifecycle.DriverDir}/{GuestDevice.Bdf}");

        DriverLifecycle.ShouldBeInUse(guest.Audio, "after bind");
        await DriverLifecycle.ShouldPlayExactly(guest, "bind-after.raw", seed: 7302);
        await DriverLifecycle.ShouldBeCleanKernelLog(guest, "unbind and bind");
    }
}

/// <summary>A guest of its own for the seeded suspend bug: after a suspend 9p no longer works, so it shares no guest with tests that copy files.</summary>
public sealed class SuspendFaultGuest : GuestFixture
{
    protected override GuestSessionOptions Options => new() { ExtraKernelArguments = ["pcieemu.share=0"] };
}

/// <summary>The seeded driver bug suspend_running (spec §14.1), caught by the card at the PMCSR write.</summary>
public sealed class AudioSuspendFaultTests(SuspendFaultGuest guest) : IClassFixture<SuspendFaultGuest>
{
    private const int PeriodFrames = 4800;
    private const int Periods = 8;

    /// <summary>
    /// The seeded bug suspend_running: the driver's suspend callback skips stopping the streams, so the card enters
    /// D3hot with a stream running. The card names the rule and the config write that did it; the DMA it then cannot
    /// do outside D0 stops the stream with ERRCODE POWER. With the fault off, suspend is clean again.
    /// </summary>
    [Fact]
    public async Task A_driver_that_suspends_with_a_stream_running_is_caught_at_the_PMCSR_write_spec_7()
    {
        string[] expected = ["RunningIntoD3Hot", "StreamPower", "DmaOutsideD0", "MmioInD3Hot"];
        guest.ExpectViolations(expected);
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        await guest.Run("dd if=/dev/urandom of=/tmp/running.raw bs=4096 count=96 2>/dev/null"); // 2 s; no 9p (it does not survive suspend)
        long before = guest.Audio.Checker.Count;
        string play = string.Create(CultureInfo.InvariantCulture,
            $"aplay -D {AudioFiles.PlaybackDevice} {AlsaCommands.RawArgs(format)} --period-size={PeriodFrames} --buffer-size={PeriodFrames * Periods} /tmp/running.raw");
        try
        {
            await FaultScenario.SetFault(guest, "suspend_running");
            var suspended = await guest.Session.RunAsync(
                "cd /tmp && echo 1 > /sys/module/suspend/parameters/pm_test_delay && echo devices > /sys/power/pm_test && " +
                $"{{ {play} > /tmp/aplay.log 2>&1 & pid=$!; {DriverLifecycle.WaitUntilPlaying}; " +
                "echo mem > /sys/power/state; echo \"state=$?\"; wait $pid; echo \"aplay=$?\"; echo none > /sys/power/pm_test; cat /tmp/aplay.log; }",
                TimeSpan.FromSeconds(90));
            suspended.Output.Should().Contain("state=0", $"the suspend cycle completed:\n{suspended.Output}");
        }
        finally
        {
            await guest.Run($"cd /tmp && {FaultScenario.Device} && echo none > $dev/fault");
        }

        var violations = guest.AudioViolations().Skip((int)before).ToList();
        var first = violations.Should().Contain(v => v.RuleName == "RunningIntoD3Hot").Which;
        first.Details.Stream.Should().Be(0, "stream 0 was running");
        first.Cause.Should().NotBeNull();
        first.Cause!.Value.Kind.Should().Be(PcieEmu.Pci.Checking.GuestAccessKind.ConfigWrite, "the PMCSR write that entered D3hot caused it");
        violations.Should().OnlyContain(v => expected.Contains(v.RuleName), "the DMA the running stream then tries outside D0 is refused and reported too");

        // The fault off: the same driver suspends cleanly again (AudioSuspendTests shows that in full).
        long clean = guest.Audio.Checker.Count;
        var again = await guest.Session.RunAsync(
            "cd /tmp && echo devices > /sys/power/pm_test && " +
            $"{{ {play} > /tmp/aplay.log 2>&1 & pid=$!; {DriverLifecycle.WaitUntilPlaying}; " +
            "echo mem > /sys/power/state; echo \"state=$?\"; wait $pid; echo \"aplay=$?\"; echo none > /sys/power/pm_test; }",
            TimeSpan.FromSeconds(90));
        again.Output.Should().Contain("state=0").And.Contain("aplay=0");
        guest.Audio.Checker.Count.Should().Be(clean, "with the fault off, suspend with aplay running breaks no rule");
    }
}
