using PcieEmu.Devices.AudioCard.Streams;
using System.Globalization;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.Audio.Wav;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Harness.Guest;
using PcieEmu.Harness.Provisioning;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Harness.Audio;

/// <summary>
/// The demo (`pcieemu demo`): for one format per sample format of the card, play a generated tone with aplay
/// through the card's first playback stream, which loops back into its first capture stream (spec §13), record
/// it with arecord, and check three things bit for bit: the card's DMA engine read exactly the tone; arecord's
/// file is exactly what the card produced; the tone appears in the recording unchanged and contiguous. Every
/// pass also counts periods, interrupts (card side and in the guest), DMA bytes and driver-rule violations.
/// </summary>
public static class LoopbackDemo
{
    /// <summary>
    /// C5 left, G5 right, at 0.4 of full scale (spec §13 tone syntax). Deliberately not the card's default capture
    /// tone (440,660 at 0.5): a capture that ignored the loopback must not pass for one.
    /// </summary>
    public const string Tone = "523.25@0.4,783.99@0.4";

    /// <summary>
    /// arecord's and aplay's buffer in periods (one second): generous, so that starting aplay in a slow (TCG) guest,
    /// or a guest stalled on a loaded host, neither overruns the capture nor underruns the playback, either of which
    /// makes the tool restart its stream mid-transfer and the pass compare two runs.
    /// </summary>
    public const int BufferPeriods = 48;

    /// <summary>Routes that loop the card's first playback stream into its first capture stream.</summary>
    public static IReadOnlyDictionary<string, string> Routes(AudioCard card)
    {
        var (playback, capture) = FirstPair(card);
        return new Dictionary<string, string>
        {
            [playback.Layout.Name] = "loopback",
            [capture.Layout.Name] = "loopback:" + playback.Layout.Name,
        };
    }

    /// <summary>Routes for a model file before a card exists (stream names as the file declares them).</summary>
    public static IReadOnlyDictionary<string, string> Routes(PcieEmu.Devices.Models.AudioCardModel model)
    {
        var playback = model.Streams.First(s => s.Direction == PcieEmu.Devices.Models.StreamDirection.Playback);
        var capture = model.Streams.First(s => s.Direction == PcieEmu.Devices.Models.StreamDirection.Capture);
        return new Dictionary<string, string> { [playback.Name] = "loopback", [capture.Name] = "loopback:" + playback.Name };
    }

    /// <summary>
    /// Each sample format both streams support once, at 2 channels, spreading the supported rates over the passes
    /// so that a default card's four formats cover its four rates.
    /// </summary>
    public static IReadOnlyList<AudioFormat> Formats(AudioCard card)
    {
        var (playback, capture) = FirstPair(card);
        var rates = playback.Layout.Rates.Intersect(capture.Layout.Rates).Order().ToArray();
        var formats = playback.Layout.Formats.Intersect(capture.Layout.Formats, StringComparer.Ordinal).ToArray();
        int channels = Math.Min(2, Math.Min(playback.Layout.MaxChannels, capture.Layout.MaxChannels));
        if (rates.Length == 0 || formats.Length == 0)
        {
            throw new InvalidOperationException($"{card.Model.Name}: streams {playback.Layout.Name} and {capture.Layout.Name} share no format and rate");
        }

        var result = new List<AudioFormat>();
        for (int i = 0; i < formats.Length; i++)
        {
            if (SampleFormats.TryParseAlsaName(formats[i], out var f))
            {
                result.Add(new AudioFormat(f, rates[i % rates.Length], channels));
            }
        }

        return result;
    }

    /// <summary>
    /// Runs one pass per format on the session's first audio card, whose streams must already be looped
    /// (<see cref="Routes(AudioCard)"/>; boot the session with them). Writes three WAV files per pass into
    /// <see cref="DemoOptions.OutputDirectory"/>. A pass that fails is reported, not thrown; the next one still runs.
    /// </summary>
    /// <param name="session">A batch session (the guest agent connected) with the audio card and its driver loaded.</param>
    /// <param name="options">Duration, output folder and formats.</param>
    /// <param name="progress">One step per pass.</param>
    /// <param name="cancellationToken">Stops between and inside guest commands.</param>
    /// <exception cref="InvalidOperationException">The session has no audio card, or its streams share no format and rate.</exception>
    /// <exception cref="GuestSessionException">A guest command could not run (timeout, guest gone), or reading /proc/interrupts failed.</exception>
    public static async Task<DemoReport> RunAsync(GuestSession session, DemoOptions options, IProgress<ProvisionStep>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var card = session.Cards.Select(c => c.Card).OfType<AudioCard>().FirstOrDefault()
            ?? throw new InvalidOperationException("the session has no audio card");
        Directory.CreateDirectory(options.OutputDirectory);
        var formats = options.Formats ?? Formats(card);
        var passes = new List<DemoPass>();
        for (int i = 0; i < formats.Count; i++)
        {
            progress?.Report(new ProvisionStep(i + 1, formats.Count, $"{formats[i]}: aplay a tone, arecord the loopback"));
            passes.Add(await RunPassAsync(session, card, formats[i], options, cancellationToken));
        }

        return new DemoReport(passes, Path.GetFullPath(options.OutputDirectory));
    }

    private static async Task<DemoPass> RunPassAsync(GuestSession session, AudioCard card, AudioFormat format, DemoOptions options,
        CancellationToken cancellationToken)
    {
        var (playback, capture) = FirstPair(card);
        int frames = (int)Math.Ceiling(options.Duration.TotalSeconds * format.Rate);
        int periodFrames = AlsaCommands.PeriodFrames(format.Rate);
        long recordFrames = frames + (format.Rate / 2); // the tone plus half a second: playback starts after capture
        var tone = GenerateTone(format, frames);
        string name = string.Create(CultureInfo.InvariantCulture, $"{format.Format.AlsaName()}-{format.Rate}");
        string playFile = $"demo-{name}-play.raw";
        string recordFile = $"demo-{name}-record.raw";
        await File.WriteAllBytesAsync(Path.Combine(session.ShareDirectory, playFile), tone, cancellationToken);
        File.Delete(Path.Combine(session.ShareDirectory, recordFile));

        var before = Snapshot.Take(card, playback, capture);
        var guestIrqBefore = ProcInterrupts.Parse(await session.RunCheckedAsync("cat /proc/interrupts", cancellationToken: cancellationToken));
        string script = AlsaCommands.RecordWhilePlaying(
            AlsaCommands.Record(AlsaCommands.StreamDevice(0, card.Model, capture.Index), recordFile, format, recordFrames, periodFrames, BufferPeriods),
            AlsaCommands.Play(AlsaCommands.StreamDevice(0, card.Model, playback.Index), playFile, format, periodFrames, BufferPeriods),
            card: 0, captureDevice: AlsaCommands.PcmDevice(card.Model, capture.Index), startTimeout: TimeSpan.FromSeconds(10));
        var result = await session.RunAsync(script, cancellationToken: cancellationToken);
        var guestIrqAfter = ProcInterrupts.Parse(await session.RunCheckedAsync("cat /proc/interrupts", cancellationToken: cancellationToken));
        var after = Snapshot.Take(card, playback, capture);

        string recordPath = Path.Combine(session.ShareDirectory, recordFile);
        byte[] recorded = File.Exists(recordPath) ? await File.ReadAllBytesAsync(recordPath, cancellationToken) : [];
        var played = after.PlaybackRuns > before.PlaybackRuns ? playback.Runs[^1] : null;
        var produced = after.CaptureRuns > before.CaptureRuns ? capture.Runs[^1] : null;

        string? failure = result.Succeeded ? null : $"guest command exited {result.ExitCode}: {result.Output.Trim()}";
        failure ??= after.PlaybackRuns - before.PlaybackRuns != 1 || after.CaptureRuns - before.CaptureRuns != 1
            ? $"expected one run per stream, saw {after.PlaybackRuns - before.PlaybackRuns} playback and {after.CaptureRuns - before.CaptureRuns} capture"
            : null;
        failure ??= recorded.Length != recordFrames * format.FrameBytes
            ? $"arecord wrote {recorded.Length} bytes, expected {recordFrames * format.FrameBytes}"
            : null;

        var check = new DemoChecks(
            PlaybackExact: played is not null && played.Format == format && played.Bytes.Length >= tone.Length && played.Bytes.AsSpan(0, tone.Length).SequenceEqual(tone),
            RecordingExact: produced is not null && produced.Format == format && recorded.Length > 0 && produced.Bytes.Length >= recorded.Length
                && produced.Bytes.AsSpan(0, recorded.Length).SequenceEqual(recorded),
            LoopbackOffsetFrames: FrameSearch.Find(recorded, tone, format.FrameBytes) is int at and >= 0 ? at / format.FrameBytes : -1);

        string dir = options.OutputDirectory;
        string toneWav = Path.Combine(dir, $"{name}-tone.wav");
        string cardWav = Path.Combine(dir, $"{name}-card-playback.wav");
        string recordWav = Path.Combine(dir, $"{name}-arecord.wav");
        WriteWav(toneWav, format, tone);
        WriteWav(cardWav, format, played?.Bytes ?? []);
        WriteWav(recordWav, format, recorded);

        string irq(int stream) => $"pcieemu_audio-v{1 + stream}";
        return new DemoPass(
            format,
            periodFrames,
            frames,
            recordFrames,
            check,
            PlaybackPeriods: after.PlaybackPeriods - before.PlaybackPeriods,
            CapturePeriods: after.CapturePeriods - before.CapturePeriods,
            PlaybackInterrupts: after.PlaybackInterrupts - before.PlaybackInterrupts,
            CaptureInterrupts: after.CaptureInterrupts - before.CaptureInterrupts,
            GuestInterrupts: Delta(guestIrqBefore, guestIrqAfter, irq(playback.Index)) + Delta(guestIrqBefore, guestIrqAfter, irq(capture.Index)),
            DmaReadBytes: after.DmaRead - before.DmaRead,
            DmaWriteBytes: after.DmaWrite - before.DmaWrite,
            Xruns: (after.PlaybackXruns - before.PlaybackXruns) + (after.CaptureXruns - before.CaptureXruns),
            Violations: [.. card.Checker.Snapshot().Where(v => v.IsViolation).Skip((int)Math.Min(before.Violations, int.MaxValue)).Select(v => v.RuleName)],
            ViolationCount: card.Checker.Count - before.Violations,
            ToneWav: toneWav,
            CardPlaybackWav: cardWav,
            RecordingWav: recordWav,
            Failure: failure);
    }

    /// <summary>The tone as the card's own generator makes it (spec §13), so the demo's source has one definition.</summary>
    public static byte[] GenerateTone(AudioFormat format, int frames)
    {
        using var source = new ToneSource(Tone);
        if (source.Start(format) is { } error)
        {
            throw new InvalidOperationException(error);
        }

        var data = new byte[frames * format.FrameBytes];
        source.Read(data, 0);
        source.Stop();
        return data;
    }

    private static void WriteWav(string path, AudioFormat format, byte[] frames)
    {
        using var writer = new WavWriter(path, format);
        writer.Write(frames.AsSpan(0, frames.Length / format.FrameBytes * format.FrameBytes));
    }

    private static long Delta(Dictionary<string, long> before, Dictionary<string, long> after, string name) =>
        after.GetValueOrDefault(name) - before.GetValueOrDefault(name);

    private static (AudioStream Playback, AudioStream Capture) FirstPair(AudioCard card) =>
        (card.Streams.FirstOrDefault(s => !s.IsCapture) ?? throw new InvalidOperationException($"{card.Model.Name} has no playback stream"),
         card.Streams.FirstOrDefault(s => s.IsCapture) ?? throw new InvalidOperationException($"{card.Model.Name} has no capture stream"));

    /// <summary>The card-side counters a pass reports as differences.</summary>
    private readonly record struct Snapshot(
        int PlaybackRuns, int CaptureRuns, long PlaybackPeriods, long CapturePeriods, long PlaybackInterrupts, long CaptureInterrupts,
        long PlaybackXruns, long CaptureXruns, long DmaRead, long DmaWrite, long Violations)
    {
        public static Snapshot Take(AudioCard card, AudioStream playback, AudioStream capture) => new(
            playback.Runs.Count, capture.Runs.Count, playback.Statistics.Periods, capture.Statistics.Periods,
            card.Function.Interrupts.DeliveredCount(IrqIndex.Msix, playback.Vector), card.Function.Interrupts.DeliveredCount(IrqIndex.Msix, capture.Vector),
            playback.Statistics.Xruns, capture.Statistics.Xruns, card.Function.Statistics.DmaReadBytes, card.Function.Statistics.DmaWriteBytes,
            card.Checker.Count);
    }
}

/// <summary>What the demo is told: how long each tone plays, where the WAV files go, which formats (default: <see cref="LoopbackDemo.Formats"/>).</summary>
/// <param name="OutputDirectory">Where each pass's WAV files go (created if missing).</param>
public sealed record DemoOptions(string OutputDirectory)
{
    /// <summary>How long the tone plays in each pass (default 1 s); the recording runs half a second longer.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The passes' formats, in order; null (default) for <see cref="LoopbackDemo.Formats"/>.</summary>
    public IReadOnlyList<AudioFormat>? Formats { get; init; }
}

/// <summary>The three bit-exact checks of a pass.</summary>
/// <param name="PlaybackExact">The card's playback DMA read exactly the tone, from frame 0.</param>
/// <param name="RecordingExact">arecord's file is exactly what the card's capture engine wrote, from frame 0.</param>
/// <param name="LoopbackOffsetFrames">Where the whole tone starts in the recording, or -1 when it is not there unchanged and contiguous.</param>
public sealed record DemoChecks(bool PlaybackExact, bool RecordingExact, long LoopbackOffsetFrames)
{
    /// <summary>The whole tone is in the recording, unchanged and contiguous.</summary>
    public bool LoopbackExact => LoopbackOffsetFrames >= 0;

    /// <summary>All three checks passed.</summary>
    public bool All => PlaybackExact && RecordingExact && LoopbackExact;
}

/// <summary>One pass of the demo: one format, played and recorded once, with what the card and the guest counted meanwhile.</summary>
/// <param name="Format">The pass's format (2 channels or fewer).</param>
/// <param name="PeriodFrames">ALSA period size the tools used, in frames.</param>
/// <param name="PlayedFrames">Frames of tone aplay played.</param>
/// <param name="RecordedFrames">Frames arecord was asked to record (the tone plus half a second).</param>
/// <param name="Checks">The bit-exact checks.</param>
/// <param name="PlaybackPeriods">Period (IOC) completions of the playback stream during the pass.</param>
/// <param name="CapturePeriods">Period completions of the capture stream.</param>
/// <param name="PlaybackInterrupts">MSI-X messages the card delivered on the playback stream's vector.</param>
/// <param name="CaptureInterrupts">MSI-X messages delivered on the capture stream's vector.</param>
/// <param name="GuestInterrupts">Interrupts the guest counted for both streams (/proc/interrupts).</param>
/// <param name="DmaReadBytes">Bytes the card read from guest memory.</param>
/// <param name="DmaWriteBytes">Bytes the card wrote into guest memory.</param>
/// <param name="Xruns">Overruns and underruns of both streams.</param>
/// <param name="Violations">Names of the driver-rule violations recorded during the pass, in order (the kept ones).</param>
/// <param name="ViolationCount">Driver-rule violations during the pass, kept or not.</param>
/// <param name="ToneWav">The tone as generated.</param>
/// <param name="CardPlaybackWav">What the card's playback DMA read.</param>
/// <param name="RecordingWav">What arecord wrote.</param>
/// <param name="Failure">Why the pass could not be judged (a guest command failed, a run too many, a short recording), or null.</param>
public sealed record DemoPass(
    AudioFormat Format,
    int PeriodFrames,
    long PlayedFrames,
    long RecordedFrames,
    DemoChecks Checks,
    long PlaybackPeriods,
    long CapturePeriods,
    long PlaybackInterrupts,
    long CaptureInterrupts,
    long GuestInterrupts,
    long DmaReadBytes,
    long DmaWriteBytes,
    long Xruns,
    IReadOnlyList<string> Violations,
    long ViolationCount,
    string ToneWav,
    string CardPlaybackWav,
    string RecordingWav,
    string? Failure)
{
    /// <summary>The pass succeeded: no failure, every check passed, no violation.</summary>
    public bool Matched => Failure is null && Checks.All && ViolationCount == 0;
}

/// <summary>What the demo found.</summary>
/// <param name="Passes">One per format, in order.</param>
/// <param name="OutputDirectory">The WAV files' folder, absolute.</param>
public sealed record DemoReport(IReadOnlyList<DemoPass> Passes, string OutputDirectory)
{
    /// <summary>There was at least one pass, and every pass matched.</summary>
    public bool AllMatched => Passes.Count > 0 && Passes.All(p => p.Matched);
}
