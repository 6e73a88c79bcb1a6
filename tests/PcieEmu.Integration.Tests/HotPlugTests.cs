using System.Diagnostics;
using System.Globalization;
using PcieEmu.Devices.Audio;
using PcieEmu.Harness;

namespace PcieEmu.Integration.Tests;

/// <summary>A guest whose card may be hot-unplugged and plugged again (the hot-plug QEMU, a persistent server).</summary>
public sealed class HotPlugGuest : GuestFixture
{
    protected override GuestSessionOptions Options => new() { HotPlug = true };
}

/// <summary>
/// Thunderbolt-style hot-plug (README "Hot-plug, surprise removal and vIOMMU", spec §7.1): QMP device_del and
/// device_add of the card behind its pcie-root-port while the guest runs, with the driver's remove() and probe()
/// in between; unplug during playback; and surprise removal — the card's server drops the connection while aplay
/// plays, QEMU reads all-ones, the driver notices, stops and lets go. Each cycle the server must give back every
/// mapping and fd, and the guest's kernel log must stay clean.
/// </summary>
[Collection(HotPlugCollection.Name)]
public sealed class HotPlugTests(HotPlugGuest guest) : IClassFixture<HotPlugGuest>
{
    private const string NoCard = "until grep -q 'no soundcards' /proc/asound/cards; do sleep 0.05; done";
    private const string CardBack = "until [ -e /proc/asound/card0/pcm0p ]; do sleep 0.05; done";
    private static readonly AudioFormat Format = new(SampleFormat.S16Le, 48000, 2);

    [Fact]
    public async Task Twenty_unplug_and_replug_cycles_each_play_bit_exact_and_give_back_every_mapping_and_fd()
    {
        int? fdBaseline = null;
        var cycles = new List<double>();
        for (int cycle = 0; cycle < 20; cycle++)
        {
            var sw = Stopwatch.StartNew();
            await guest.Session.Slots.UnplugAsync(0);
            await guest.Run(NoCard);
            guest.Audio.Function.DmaMappings.Count.Should().Be(0, $"cycle {cycle}: the server released every mapping with the session");
            int fds = await SettledSessionFdCount(fdBaseline);
            fds.Should().BeLessThanOrEqualTo(fdBaseline ?? fds, $"cycle {cycle}: the server holds no memfd or eventfd of the gone session");
            fdBaseline = Math.Min(fdBaseline ?? fds, fds);

            await guest.Session.Slots.PlugAsync(0);
            await guest.Run(CardBack);
            cycles.Add(sw.Elapsed.TotalSeconds);
            SessionKindFds().Should().BeGreaterThan(fdBaseline!.Value, $"cycle {cycle}: a live session's guest RAM and interrupt fds are of the kinds counted");
            await DriverLifecycle.ShouldPlayExactly(guest, $"cycle{cycle}.raw", seed: 9300 + cycle);
        }

        await DriverLifecycle.ShouldBeCleanKernelLog(guest, "twenty hot-plug cycles");
        (await guest.Run("dmesg")).Should().NotContain("hung_task", "no task hung in remove() or probe()");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"hot-plug cycle (device_del, guest sees it gone, device_add, guest probed): median {cycles.Order().ElementAt(cycles.Count / 2):F2} s, max {cycles.Max():F2} s"));
    }

    [Fact]
    public async Task Unplugging_during_playback_fails_aplay_with_an_error_and_the_card_plays_again_after_replug()
    {
        var samples = AudioFiles.Samples(Format, 48000 * 20, seed: 9400);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "long.raw"), samples);
        await guest.Run($"({AudioFiles.Play("long.raw", Format)} > /tmp/unplugged.log 2>&1; echo exit=$? >> /tmp/unplugged.log) & {DriverLifecycle.WaitUntilPlaying}");

        await guest.Session.Slots.UnplugAsync(0);

        string log = await guest.Run("until grep -q exit= /tmp/unplugged.log; do sleep 0.05; done; cat /tmp/unplugged.log");
        log.Should().NotContain("exit=0", "a card removed mid-stream fails the write").And.ContainAny("No such device", "File descriptor in bad state", "Input/output error");
        await guest.Run(NoCard);
        await guest.Session.Slots.PlugAsync(0);
        await guest.Run(CardBack);
        await DriverLifecycle.ShouldPlayExactly(guest, "after-unplug.raw", seed: 9401);
        await DriverLifecycle.ShouldBeCleanKernelLog(guest, "unplug during playback");
    }

    [Fact]
    public async Task A_card_that_vanishes_mid_stream_is_noticed_and_let_go_and_a_new_session_plays_after_device_del_and_device_add()
    {
        var samples = AudioFiles.Samples(Format, 48000 * 20, seed: 9500);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "vanish.raw"), samples);
        await guest.Run($"({AudioFiles.Play("vanish.raw", Format)} > /tmp/vanished.log 2>&1; echo exit=$? >> /tmp/vanished.log) & {DriverLifecycle.WaitUntilPlaying}");
        var interruptsBefore = await InterruptTotal();

        var sw = Stopwatch.StartNew();
        await guest.Session.Slots.SurpriseRemoveAsync(0);
        string log = await guest.Run("until grep -q exit= /tmp/vanished.log; do sleep 0.05; done; cat /tmp/vanished.log");
        double noticed = sw.Elapsed.TotalSeconds;

        log.Should().NotContain("exit=0", "the writer gets an error, it does not hang")
            .And.ContainAny(["No such device", "File descriptor in bad state"], "the driver disconnected the ALSA card (ENODEV, or EBADFD once the substream is DISCONNECTED)");
        (await guest.Run("dmesg")).Should().Contain("card not answering (config space reads all-ones): removed");
        (await InterruptTotal() - interruptsBefore).Should().BeLessThan(1000, "no interrupt storm: the handler does not spin on an all-ones status");

        sw.Restart();
        await guest.Session.Slots.UnplugAsync(0); // before anything changes the memory map (qemu/provision/README.md)
        await guest.Run(NoCard);
        await guest.Session.Slots.PlugAsync(0);
        await guest.Run(CardBack);
        double recovered = sw.Elapsed.TotalSeconds;
        await DriverLifecycle.ShouldPlayExactly(guest, "after-vanish.raw", seed: 9501);
        await DriverLifecycle.ShouldBeCleanKernelLog(guest, "surprise removal");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"surprise removal: aplay failed {noticed:F2} s after the card vanished; device_del + device_add until the driver probed again: {recovered:F2} s"));
    }

    /// <summary>Interrupts the guest counted on every pcieemu_audio vector.</summary>
    private async Task<long> InterruptTotal()
    {
        string text = await guest.Run("grep pcieemu /proc/interrupts || true");
        long total = 0;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var word in line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).TakeWhile(w => long.TryParse(w, out _)))
            {
                total += long.Parse(word, CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    /// <summary>
    /// This process's open fds of the kinds a vfio-user session hands the server (QEMU's guest-RAM memfd, interrupt
    /// eventfds), once they stop changing or are back at the baseline. Counting every fd of the process is noise:
    /// the runtime and earlier fixtures close pipes and log files lazily, so the total may fall between cycles.
    /// </summary>
    private static async Task<int> SettledSessionFdCount(int? baseline)
    {
        int last = SessionKindFds();
        for (int i = 0; i < 200 && !(last <= baseline); i++)
        {
            await Task.Delay(25);
            int now = SessionKindFds();
            if (now == last && baseline is null)
            {
                break;
            }

            last = now;
        }

        return last;
    }

    private static int SessionKindFds()
    {
        int n = 0;
        foreach (var entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(entry).LinkTarget is { } link
                    && (link.StartsWith("/memfd:", StringComparison.Ordinal) || link == "anon_inode:[eventfd]"))
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
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HotPlugCollection
{
    public const string Name = "hot-plug";
}

/// <summary>Without the hot-plug QEMU a device_del would abort QEMU 11.1.3: the harness refuses to send one, saying why.</summary>
public sealed class HotPlugRefusalTests(DriverGuest guest) : IClassFixture<DriverGuest>
{
    [Fact]
    public async Task Unplugging_without_the_hot_plug_qemu_is_refused_with_the_reason_before_qemu_can_abort()
    {
        var unplug = () => guest.Session.Slots.UnplugAsync(0);

        (await unplug.Should().ThrowAsync<GuestSessionException>()).Which.Message.Should()
            .Contain("aborts on device_del").And.Contain("HotPlug");
        guest.Session.QemuExited.Should().BeFalse("nothing was sent to QEMU");
        (await guest.Run("cat /proc/asound/cards")).Should().Contain("PcieEmu Audio", "the card is still there");
    }
}

/// <summary>`pcieemu boot` scripts hot-plug and surprise removal with `--exec "@…"` between guest commands.</summary>
public sealed class SlotCommandTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task A_scripted_boot_unplugs_plugs_and_survives_a_surprise_removal()
    {
        var boot = await CliProcess.RunAsync(Bound, "boot",
            "--exec", "cat /proc/asound/cards",
            "--exec", "@unplug",
            "--exec", "until grep -q 'no soundcards' /proc/asound/cards; do sleep 0.05; done; echo GONE",
            "--exec", "@plug 0",
            "--exec", "until [ -e /proc/asound/card0 ]; do sleep 0.05; done; echo BACK",
            "--exec", "@surprise 0",
            "--exec", "until dmesg | grep -q 'card not answering'; do cat /proc/asound/card0/pcm0p/sub0/status > /dev/null 2>&1; aplay -D hw:0,0 -d 1 -f S16_LE -r 48000 -c 2 /dev/zero > /dev/null 2>&1; done; echo NOTICED",
            "--exec", "@unplug 0",
            "--exec", "@plug 0",
            "--exec", "until [ -e /proc/asound/card0 ]; do sleep 0.05; done; echo AGAIN");

        boot.Exit.Should().Be(0, boot.Stdout + boot.Stderr);
        boot.Stdout.Should().Contain("GONE").And.Contain("BACK").And.Contain("NOTICED").And.Contain("AGAIN");
        boot.Stderr.Should().Contain("`@unplug` done").And.Contain("`@surprise 0` done");
    }

    [Theory]
    [InlineData("@eject 0", "expected @unplug [N], @plug [N] or @surprise [N]")]
    [InlineData("@unplug 3", "card 3 does not exist")]
    public async Task A_bad_slot_command_is_one_line_and_exit_2_before_anything_boots(string exec, string message)
    {
        var boot = await CliProcess.RunAsync(TimeSpan.FromMinutes(2), "boot", "--exec", exec);

        boot.Exit.Should().Be(2);
        boot.Stderr.Trim().Should().Contain(message).And.NotContain("\n");
    }
}
