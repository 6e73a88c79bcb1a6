using PcieEmu.Devices.AudioCard.Streams;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Devices.Models;
using PcieEmu.Harness.Processes;
using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Harness.Audio;

/// <summary>
/// `pcieemu bench stream`: every stream of the card runs at once (aplay from /dev/zero, arecord to /dev/null) at
/// one rate and format, each with its most channels; once all run, a window of <see cref="StreamBenchOptions.Duration"/>
/// measures this process's CPU time (the card's server lives here; per thread, so the card scheduler and the
/// vfio-user loop show apart from the harness), what the card moved, and the device-side lateness of every
/// period interrupt. An idle window first gives the baseline of a booted guest with nothing playing.
/// </summary>
public static class StreamBench
{
    /// <summary>Runs the idle window, starts every stream in the guest, measures the busy window and waits for the guest's tools to end.</summary>
    /// <param name="session">A batch session with the audio card and its driver loaded.</param>
    /// <param name="options">Windows, rate, format and buffer.</param>
    /// <param name="progress">Three steps: idle, start, measure.</param>
    /// <param name="cancellationToken">Stops the windows and the guest command.</param>
    /// <exception cref="InvalidOperationException">The session has no audio card, or a stream does not do the rate and format.</exception>
    /// <exception cref="GuestSessionException">Not every stream started within 60 s.</exception>
    public static async Task<StreamBenchReport> RunAsync(GuestSession session, StreamBenchOptions options,
        IProgress<ProvisionStep>? progress = null, CancellationToken cancellationToken = default)
    {
        var card = session.Cards.Select(c => c.Card).OfType<AudioCard>().FirstOrDefault()
            ?? throw new InvalidOperationException("the session has no audio card");
        var plan = Plan(card, options);

        progress?.Report(new ProvisionStep(1, 3, $"idle baseline ({options.IdleWindow.TotalSeconds:0.#} s)"));
        var idle = await MeasureAsync(() => Task.Delay(options.IdleWindow, cancellationToken));

        progress?.Report(new ProvisionStep(2, 3, $"starting {plan.Count} streams at {options.Rate} Hz {options.Format.AlsaName()}"));
        var guest = session.RunAsync(Script(card.Model, plan, options), options.Duration + TimeSpan.FromSeconds(120), cancellationToken);
        var deadline = Stopwatch.StartNew();
        while (!card.Streams.All(s => s.IsRunning))
        {
            if (guest.IsCompleted || deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                var early = guest.IsCompleted ? await guest : null;
                throw new GuestSessionException($"not every stream started ({string.Join(", ", card.Streams.Where(s => !s.IsRunning).Select(s => s.Layout.Name))} idle)" +
                    (early is null ? "" : $"; guest exited {early.ExitCode}: {early.Output.Trim()}"));
            }

            await Task.Delay(10, cancellationToken);
        }

        progress?.Report(new ProvisionStep(3, 3, $"measuring {options.Duration.TotalSeconds:0.#} s with every stream running"));
        var before = card.Streams.Select(Counters.Take).ToArray();
        long dmaRead = card.Function.Statistics.DmaReadBytes, dmaWrite = card.Function.Statistics.DmaWriteBytes;
        var busy = await MeasureAsync(() => Task.Delay(options.Duration, cancellationToken));
        var after = card.Streams.Select(Counters.Take).ToArray();
        bool allRan = card.Streams.All(s => s.IsRunning);
        dmaRead = card.Function.Statistics.DmaReadBytes - dmaRead;
        dmaWrite = card.Function.Statistics.DmaWriteBytes - dmaWrite;

        var result = await guest;
        var streams = new List<StreamBenchStream>();
        var lateness = new List<long>();
        for (int i = 0; i < plan.Count; i++)
        {
            var s = card.Streams[i];
            var late = s.Statistics.IocLatenessSince(before[i].IocMark);
            lateness.AddRange(late);
            streams.Add(new StreamBenchStream(s.Layout.Name, s.IsCapture, plan[i].Format, plan[i].PeriodFrames,
                after[i].Frames - before[i].Frames, after[i].Periods - before[i].Periods, after[i].Xruns - before[i].Xruns,
                Percentiles.Of(late)));
        }

        return new StreamBenchReport(options, idle, busy, streams, Percentiles.Of([.. lateness]), dmaRead, dmaWrite, allRan,
            result.ExitCode, result.Output.Trim(), card.Checker.Count);
    }

    /// <summary>What each stream runs: the requested format at its most channels, periods within MAXSEG.</summary>
    internal static IReadOnlyList<(AudioStream Stream, AudioFormat Format, int PeriodFrames)> Plan(AudioCard card, StreamBenchOptions options)
    {
        var plan = new List<(AudioStream, AudioFormat, int)>();
        foreach (var s in card.Streams)
        {
            if (!s.Layout.Rates.Contains(options.Rate) || !s.Layout.Formats.Contains(options.Format.AlsaName(), StringComparer.Ordinal))
            {
                throw new InvalidOperationException($"stream {s.Layout.Name} does not do {options.Format.AlsaName()} at {options.Rate} Hz");
            }

            var format = new AudioFormat(options.Format, options.Rate, s.Layout.MaxChannels);
            int period = AlsaCommands.PeriodFrames(options.Rate);
            while (period > 1 && ((long)period * format.FrameBytes > card.Model.Dma.MaxSegmentBytes || period * format.FrameBytes % card.Model.Dma.Alignment != 0))
            {
                period /= 2; // a period of one segment at most, as the bench has always measured (the driver would cut longer ones)
            }

            plan.Add((s, format, period));
        }

        return plan;
    }

    private static string Script(AudioCardModel model, IReadOnlyList<(AudioStream Stream, AudioFormat Format, int PeriodFrames)> plan, StreamBenchOptions options)
    {
        // Streams run past the window so that none stops inside it; each is told how long, not killed.
        int seconds = (int)Math.Ceiling(options.Duration.TotalSeconds) + 10;
        var script = new StringBuilder("pids=''; ");
        foreach (var (stream, format, period) in plan)
        {
            string tool = stream.IsCapture ? "arecord" : "aplay";
            string file = stream.IsCapture ? "/dev/null" : "/dev/zero";
            script.Append(CultureInfo.InvariantCulture,
                $"{tool} -q -D {AlsaCommands.StreamDevice(0, model, stream.Index)} {AlsaCommands.RawArgs(format)} --period-size={period} --buffer-size={period * options.Periods} -d {seconds} {file} & pids=\"$pids $!\"; ");
        }

        script.Append("fail=0; for p in $pids; do wait $p || fail=1; done; exit $fail");
        return script.ToString();
    }

    private static async Task<CpuWindow> MeasureAsync(Func<Task> window)
    {
        var threads = ThreadCpu.Sample();
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        await window();
        var elapsed = wall.Elapsed;
        process.Refresh();
        var used = process.TotalProcessorTime - cpu;
        return new CpuWindow(elapsed, used, ThreadCpu.Between(threads, ThreadCpu.Sample()));
    }

    private readonly record struct Counters(long Frames, long Periods, long Xruns, long IocMark)
    {
        public static Counters Take(AudioStream s) =>
            new(s.Statistics.FramesMoved, s.Statistics.Periods, s.Statistics.Xruns, s.Statistics.IocSamples);
    }
}

/// <summary>How the stream bench runs.</summary>
public sealed record StreamBenchOptions
{
    /// <summary>The measured window with every stream running (default 60 s).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The baseline window before any stream starts (default 5 s).</summary>
    public TimeSpan IdleWindow { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Every stream's rate in Hz (default 192000); each stream must offer it.</summary>
    public int Rate { get; init; } = 192000;

    /// <summary>Every stream's sample format (default S32_LE); each stream must offer it.</summary>
    public SampleFormat Format { get; init; } = SampleFormat.S32Le;

    /// <summary>ALSA buffer size in periods.</summary>
    public int Periods { get; init; } = 8;
}

/// <summary>CPU time this process used over a wall-clock window, and per thread name.</summary>
/// <param name="Wall">The window's length.</param>
/// <param name="Cpu">CPU time of the whole process in the window.</param>
/// <param name="ThreadSeconds">CPU seconds per thread name in the window (threads of one name added up).</param>
public sealed record CpuWindow(TimeSpan Wall, TimeSpan Cpu, IReadOnlyDictionary<string, double> ThreadSeconds)
{
    /// <summary>Percent of one core.</summary>
    public double Percent => Wall > TimeSpan.Zero ? 100.0 * Cpu.TotalSeconds / Wall.TotalSeconds : 0;

    /// <summary>Percent of one core the threads called <paramref name="name"/> used (0 when none ran).</summary>
    public double ThreadPercent(string name) => Wall > TimeSpan.Zero ? 100.0 * ThreadSeconds.GetValueOrDefault(name) / Wall.TotalSeconds : 0;
}

/// <summary>p50, p99 and max of a set of nanosecond samples (nearest-rank).</summary>
/// <param name="Count">Samples; 0 (and every value 0) for none.</param>
/// <param name="P50">The median, ns.</param>
/// <param name="P99">The 99th percentile, ns.</param>
/// <param name="Max">The largest sample, ns.</param>
public readonly record struct Percentiles(int Count, long P50, long P99, long Max)
{
    /// <summary>The percentiles of <paramref name="samples"/> (not modified); the default value for an empty array.</summary>
    public static Percentiles Of(long[] samples)
    {
        if (samples.Length == 0)
        {
            return default;
        }

        var sorted = samples.Order().ToArray();
        long Rank(double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new Percentiles(sorted.Length, Rank(0.50), Rank(0.99), sorted[^1]);
    }
}

/// <summary>One stream's part of the busy window.</summary>
/// <param name="Name">The stream's name in the model.</param>
/// <param name="Capture">A capture stream (arecord) rather than a playback one (aplay).</param>
/// <param name="Format">What it ran: the bench's rate and format at the stream's most channels.</param>
/// <param name="PeriodFrames">ALSA period size, in frames (at most one DMA segment).</param>
/// <param name="Frames">Frames the stream moved in the window.</param>
/// <param name="Periods">Period completions in the window.</param>
/// <param name="Xruns">Overruns or underruns in the window.</param>
/// <param name="Lateness">Device-side lateness of its period interrupts in the window, ns after each boundary.</param>
public sealed record StreamBenchStream(string Name, bool Capture, AudioFormat Format, int PeriodFrames, long Frames, long Periods, long Xruns, Percentiles Lateness);

/// <summary>What the stream bench measured.</summary>
/// <param name="Options">The options it ran with.</param>
/// <param name="Idle">CPU in the idle window.</param>
/// <param name="Busy">CPU in the busy window.</param>
/// <param name="Streams">Each stream, in card order.</param>
/// <param name="Lateness">Period-interrupt lateness of all streams together.</param>
/// <param name="DmaReadBytes">Bytes the card read from guest memory in the busy window.</param>
/// <param name="DmaWriteBytes">Bytes the card wrote into guest memory in the busy window.</param>
/// <param name="AllRanThroughout">Every stream was still running at the end of the window.</param>
/// <param name="GuestExitCode">Exit code of the guest's script (0: every aplay and arecord succeeded).</param>
/// <param name="GuestOutput">The script's output, trimmed.</param>
/// <param name="Violations">Driver-rule violations the card had counted by the end (the whole session).</param>
public sealed record StreamBenchReport(
    StreamBenchOptions Options,
    CpuWindow Idle,
    CpuWindow Busy,
    IReadOnlyList<StreamBenchStream> Streams,
    Percentiles Lateness,
    long DmaReadBytes,
    long DmaWriteBytes,
    bool AllRanThroughout,
    int GuestExitCode,
    string GuestOutput,
    long Violations)
{
    /// <summary>Samples per second the card moved in the window, all streams together.</summary>
    public double SamplesPerSecond => Busy.Wall > TimeSpan.Zero
        ? Streams.Sum(s => (double)s.Frames * s.Format.Channels) / Busy.Wall.TotalSeconds
        : 0;
}
