using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.AudioCard.Streams;
using PcieEmu.Devices.Common;
using PcieEmu.Devices.Models;
using PcieEmu.Pci;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard;

/// <summary>How a card runs outside its model file: its clock and where samples go (spec §11, §13).</summary>
public sealed record AudioCardOptions
{
    /// <summary>The card's clock (default: host monotonic time).</summary>
    public IDeviceClock? Clock { get; init; }

    /// <summary>No engine thread: time moves only through <see cref="AudioCard.AdvanceTime"/> (needs a <see cref="ManualDeviceClock"/>).</summary>
    public bool ManualTime { get; init; }

    /// <summary>
    /// No threads at all (implies <see cref="ManualTime"/>): the host runs the engine's steps and the worker's jobs
    /// (<see cref="AudioCard.RunEngineStep"/>, <see cref="AudioCard.RunWorkerJob"/>), as trace replay does.
    /// </summary>
    public bool ExternalScheduling { get; init; }

    /// <summary>Per stream name, a route that replaces the model file's (e.g. from `pcieemu serve --route`).</summary>
    public IReadOnlyDictionary<string, string> Routes { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Per stream, how many bytes of what it transferred the host keeps for reading back (<see cref="AudioStream.Runs"/>,
    /// spec §13). 0, the default: frames are counted, never kept — a plain server must not grow by what it streams.
    /// Test harnesses turn it on.
    /// </summary>
    public long KeepSampleBytes { get; init; }
}

public sealed partial class AudioCard
{
    private IDeviceClock _clock = null!;
    private StreamEngine _engine = null!;
    private AudioStream[] _streams = [];
    private LoopbackHub _loopback = null!;

    /// <summary>The card's streams in card order (spec §9).</summary>
    public IReadOnlyList<AudioStream> Streams => _streams;

    public AudioStream Stream(string name) => _streams.FirstOrDefault(s => s.Layout.Name == name)
        ?? throw new ArgumentException($"no stream named {name}", nameof(name));

    public IDeviceClock Clock => _clock;

    private void CreateStreams(AudioCardOptions options, Microsoft.Extensions.Logging.ILoggerFactory loggerFactory)
    {
        _clock = options.Clock ?? new MonotonicDeviceClock();
        if ((options.ManualTime || options.ExternalScheduling) && _clock is not ManualDeviceClock)
        {
            throw new ArgumentException("ManualTime needs a ManualDeviceClock", nameof(options));
        }

        _loopback = new LoopbackHub();
        var streams = new List<AudioStream>();
        for (int i = 0; i < Model.Streams.Count; i++)
        {
            var layout = Model.Streams[i];
            string route = options.Routes.TryGetValue(layout.Name, out var r) ? r
                : layout.Route ?? (layout.Direction == StreamDirection.Playback ? AudioRoutes.DefaultSink : AudioRoutes.DefaultSource);
            var stream = layout.Direction == StreamDirection.Playback
                ? new AudioStream(this, i, layout, AudioRoutes.CreateSink(route, _loopback, layout.Name, options.KeepSampleBytes), null, options.KeepSampleBytes)
                : new AudioStream(this, i, layout, null, AudioRoutes.CreateSource(route, _loopback), options.KeepSampleBytes);
            streams.Add(stream);
            var definitions = AudioRegisterMap.Document.CreateBlockDefinitions("SD", i, stream.WriteHandlers(),
                new Dictionary<string, RegisterReadHandler>(),
                name => name == "CAPS" ? stream.Caps : throw new RegisterMapException($"SD.{name} has no model value"));
            _registers.DefineAll(definitions);
        }

        _streams = [.. streams];
        _engine = new StreamEngine(_clock, () => _streams, options.ManualTime || options.ExternalScheduling,
            loggerFactory.CreateLogger("PcieEmu.Devices.AudioCard.Streams"), () => Function?.Trace);
    }

    /// <summary>Virtual time only: moves the card's clock forward, running the streams as time passes.</summary>
    public void AdvanceTime(long nanoseconds)
    {
        var clock = _clock as ManualDeviceClock ?? throw new InvalidOperationException("the card runs on real time");
        _engine.AdvanceTo(clock, clock.NowNanoseconds + nanoseconds);
    }

    /// <summary>
    /// Real clock: waits until the engine thread has gone once round its loop (jobs, then every stream's pump)
    /// after this call. Tests use it to know the engine has run.
    /// </summary>
    internal bool WaitForEngineLoop(TimeSpan timeout)
    {
        for (int i = 0; i < 2; i++)
        {
            using var ran = new ManualResetEventSlim();
            _engine.Post(ran.Set);
            if (!ran.Wait(timeout))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>INTSTS read: stored causes plus SIS, stream i's pending enabled causes at bit 16+i (spec §9.4).</summary>
    private ulong InterruptStatusRead(RegisterDefinition register, ulong stored)
    {
        ulong sis = 0;
        foreach (var s in _streams)
        {
            if (s.InterruptPending)
            {
                sis |= 1UL << (16 + s.Index);
            }
        }

        return (stored & ~AudioFields.Intsts.Sis) | sis;
    }

    private bool AnyStreamInterruptPending()
    {
        foreach (var s in _streams)
        {
            if (s.InterruptPending)
            {
                return true;
            }
        }

        return false;
    }

    private void StopStreams(ResetKind kind)
    {
        foreach (var s in _streams)
        {
            if (kind == ResetKind.ClientLost)
            {
                s.AbortLocked();
            }
            else
            {
                s.StopLocked(kind.ToString());
                s.ResetGains();
            }
        }
    }
}
