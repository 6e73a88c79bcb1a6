using PcieEmu.Pci.Timing;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PcieEmu.Devices;
using PcieEmu.Devices.Common;
using PcieEmu.Devices.Models;
using PcieEmu.Pci;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Hosting;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;
using PcieEmu.Pci.Scheduling;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Replay;

/// <summary>What a replay runs against, beyond the trace itself.</summary>
public sealed record ReplayOptions
{
    /// <summary>A model file to rebuild the card from instead of the one inside the trace; it must be the same model.</summary>
    public string? ModelPath { get; init; }

    /// <summary>Route overrides (stream → route), e.g. a capture WAV file at another path.</summary>
    public IReadOnlyDictionary<string, string> Routes { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Replay a trace that stops without its End record (a recorder killed mid-session) up to its last complete
    /// unit, instead of refusing it.
    /// </summary>
    public bool AllowTruncated { get; init; }

    /// <summary>Records shown before and after a divergence.</summary>
    public int Context { get; init; } = 6;

    /// <summary>Called with the rebuilt card before the first unit (tests use it to change the device on purpose).</summary>
    public Action<IEmulatedCard>? Prepare { get; init; }

    /// <summary>Units replayed so far and the fraction of the file read, for a progress bar (every few thousand units).</summary>
    public IProgress<(long Units, double Fraction)>? Progress { get; init; }
}

/// <summary>
/// Replays a trace (src/PcieEmu.Tracing/TRACE-FORMAT.md "Replay"): rebuilds the card from the model, then runs
/// each recorded unit in order at its recorded device time on a manual clock, with no device threads, feeding it
/// the recorded DMA read data, and compares everything the card does with the recording. Deterministic: one
/// thread, virtual time, recorded inputs.
/// </summary>
public static class TraceReplayer
{
    private const int MaxAccessBytes = 1 << 20;

    /// <summary>
    /// Replays a trace of a card built from a model file (recorded with
    /// <see cref="Recording.TraceRecording.Start(IEmulatedCard, string, IReadOnlyDictionary{string, string}, string)"/>),
    /// rebuilding the card from the model inside the trace or from <see cref="ReplayOptions.ModelPath"/>. Runs on the
    /// calling thread. A divergence is part of the result, not an exception; the card logs to <paramref name="loggers"/>.
    /// </summary>
    /// <exception cref="TraceFormatException">The trace is corrupt or truncated, or was recorded with another model.</exception>
    public static ReplayResult Replay(string tracePath, ReplayOptions options, ILoggerFactory loggers)
    {
        using var reader = TraceReader.Open(tracePath);
        var header = reader.Header;
        var model = ModelFor(header, options.ModelPath, tracePath);
        var clock = new ManualDeviceClock();
        using var card = CardFactory.Create(model, loggers, new CardOptions
        {
            Routes = RoutesFor(header, model, options.Routes, tracePath),
            Clock = clock,
            Scheduling = SchedulerMode.External,
        });
        CheckDeviceKinds(card, reader, tracePath);
        var sink = new ReplaySink(reader, reader.Schema, options.AllowTruncated);
        card.Observe(sink);
        try
        {
            return Run(card, sink, clock, model.Name, options, tracePath, reader.Schema);
        }
        finally
        {
            // The card's teardown (it is disposed after this) is not part of the recording.
            sink.Close();
        }
    }

    /// <summary>
    /// Replays a trace of a user's device (recorded with <see cref="Recording.TraceRecording.Start(IPciDevice, PciDeviceType, string)"/>)
    /// against a new device of <paramref name="type"/>, created on a manual clock with an external scheduler.
    /// <see cref="ReplayOptions.ModelPath"/> and <see cref="ReplayOptions.Routes"/> do not apply;
    /// <see cref="ReplayOptions.Prepare"/> is called only for a device that is an <see cref="IEmulatedCard"/>.
    /// </summary>
    /// <exception cref="TraceFormatException">The trace is corrupt or truncated, or was recorded from another kind of device.</exception>
    public static ReplayResult Replay(string tracePath, ReplayOptions options, PciDeviceType type, ILoggerFactory loggers)
    {
        using var reader = TraceReader.Open(tracePath);
        var header = reader.Header;
        if (header.Card != type.Name || header.ModelJson != Recording.TraceRecording.DeviceDescription(type))
        {
            throw new TraceFormatException($"{tracePath} was recorded from a \"{header.Card}\" device, not a \"{type.Name}\"");
        }

        var clock = new ManualDeviceClock();
        using var device = type.Create(new PciDeviceContext(loggers, clock, SchedulerMode.External));
        CheckDeviceKinds(device, reader, tracePath);
        var sink = new ReplaySink(reader, reader.Schema, options.AllowTruncated);
        device.Observe(sink);
        try
        {
            return Run(device, sink, clock, header.ModelName, options, tracePath, reader.Schema);
        }
        finally
        {
            sink.Close();
        }
    }

    /// <summary>
    /// Runs every recorded unit in file order at its recorded time. The sink reads the unit's nested records as the
    /// card produces its own, so nothing is held per unit and nothing is copied per record.
    /// </summary>
    private static ReplayResult Run(IPciDevice card, ReplaySink sink, ManualDeviceClock clock, string modelName, ReplayOptions options,
        string tracePath, RecordSchema schema)
    {
        if (card is IEmulatedCard emulated)
        {
            options.Prepare?.Invoke(emulated);
        }

        long started = Stopwatch.GetTimestamp();
        ReplayDivergence? divergence = null;
        try
        {
            while (sink.NextUnit())
            {
                var unit = sink.Unit;
                clock.Set(unit.Time);
                RunUnit(card, unit, sink, tracePath);
                sink.EndUnit();
                if (sink.Units % 4096 == 0)
                {
                    options.Progress?.Report((sink.Units, sink.Fraction));
                }
            }
        }
        catch (TraceDivergenceException e)
        {
            divergence = Describe(e, sink, tracePath, schema, options.Context);
        }
        catch (ObservationStoppedException e) when (e.InnerException is TraceFormatException f)
        {
            if (!f.Truncated || !options.AllowTruncated)
            {
                throw f;
            }
        }

        return new ReplayResult
        {
            TracePath = tracePath,
            ModelName = modelName,
            Units = sink.Units,
            Records = sink.Records,
            DmaBytes = sink.DmaBytes,
            VirtualNanoseconds = sink.FirstTime < 0 ? 0 : sink.LastTime - sink.FirstTime,
            Elapsed = Stopwatch.GetElapsedTime(started),
            Truncation = sink.Truncation,
            Divergence = divergence,
        };
    }

    /// <summary>The card must define the device record kinds the trace has, with the same numbers and fields.</summary>
    private static void CheckDeviceKinds(IPciDevice card, TraceReader reader, string tracePath)
    {
        foreach (var recorded in reader.Schema.DeviceKinds)
        {
            var ours = card.RecordKinds.FirstOrDefault(k => k.Kind == recorded.Kind);
            if (ours is null || ours.Name != recorded.Name || ours.Fields != recorded.Fields)
            {
                throw new TraceFormatException(
                    $"{tracePath}: record kind {(byte)recorded.Kind} is {recorded.Name} ({recorded.Fields}) in the trace, but " +
                    (ours is null ? "this card does not define it" : $"{ours.Name} ({ours.Fields}) for this card"));
            }
        }
    }

    /// <summary>The model inside the trace, or <paramref name="modelPath"/> if it is the same model.</summary>
    private static CardModel ModelFor(TraceHeader header, string? modelPath, string tracePath)
    {
        CardModel model;
        if (modelPath is null)
        {
            model = Parse(() => CardModelLoader.Parse(header.ModelJson, $"{tracePath} (embedded {header.ModelName})"), tracePath);
        }
        else
        {
            string json = CardModelLoader.ReadModelText(modelPath); // bounded, regular files only, like every model read
            string sha = TraceHeader.Sha256Of(json);
            model = Parse(() => CardModelLoader.Parse(json, modelPath), modelPath);
            if (sha != header.ModelSha256)
            {
                throw new TraceFormatException(
                    $"{tracePath} was recorded with model \"{header.ModelName}\" (sha256 {header.ModelSha256[..12]}…), but {modelPath} is model \"{model.Name}\" " +
                    $"(sha256 {sha[..12]}…); replay it with the model it was recorded with (omit --model to use the copy inside the trace)");
            }
        }

        if (model.Card != header.Card)
        {
            throw new TraceFormatException($"{tracePath} was recorded from a \"{header.Card}\" card; the model is a \"{model.Card}\"");
        }

        return model;
    }

    private static CardModel Parse(Func<CardModel> parse, string what)
    {
        try
        {
            return parse();
        }
        catch (CardModelException e)
        {
            throw new TraceFormatException($"{what}: the model does not load: {e.Message}");
        }
    }

    /// <summary>
    /// The recorded routes, with overrides. Playback into a WAV file becomes "null": a replay writes no files (the
    /// sink's bytes are compared through their SinkData hashes). A capture WAV file must exist here.
    /// </summary>
    private static Dictionary<string, string> RoutesFor(TraceHeader header, CardModel model, IReadOnlyDictionary<string, string> overrides, string tracePath)
    {
        var routes = new Dictionary<string, string>(header.Routes, StringComparer.Ordinal);
        foreach (var (k, v) in overrides)
        {
            routes[k] = v;
        }

        // Only an audio card's streams have routes.
        foreach (var stream in (model as AudioCardModel)?.Streams ?? [])
        {
            string? route = routes.TryGetValue(stream.Name, out var r) ? r : stream.Route;
            if (route is null || !route.StartsWith("wav:", StringComparison.Ordinal))
            {
                continue;
            }

            if (stream.Direction == StreamDirection.Playback)
            {
                routes[stream.Name] = "null";
            }
            else if (!overrides.ContainsKey(stream.Name) && !File.Exists(route[4..]))
            {
                throw new TraceFormatException(
                    $"{tracePath}: capture stream {stream.Name} was recorded from {route}, which is not here; pass --route {stream.Name}=wav:FILE");
            }
        }

        return routes;
    }

    /// <summary>Runs one recorded unit on the card, checking its parameters first (a corrupt trace must not crash the replay).</summary>
    private static void RunUnit(IPciDevice card, RecordCopy unit, ReplaySink sink, string tracePath)
    {
        var f = card.Function;
        switch (unit.Kind)
        {
            case TraceEventKind.ConfigRead:
                f.ConfigRead(Offset(unit, unit.A, unit.B, (ulong)f.Config.Size, "configuration space", tracePath), sink.ReadBuffer((int)unit.B));
                break;
            case TraceEventKind.ConfigWrite:
                f.ConfigWrite(Offset(unit, unit.A, (ulong)unit.Data.Length, (ulong)f.Config.Size, "configuration space", tracePath), unit.Data);
                break;
            case TraceEventKind.BarRead:
                {
                    var bar = Bar(f, unit, tracePath);
                    Offset(unit, unit.B, unit.C, bar.Size, null, tracePath);
                    if (bar.Memory is not null && sink.PeekNested() is { Kind: TraceEventKind.ReadData } read && read.Data.Length == (int)unit.C)
                    {
                        // Guest-visible memory the guest may also change through its mmap: its content is input.
                        bar.Memory.TryWrite(unit.B, read.Data);
                    }

                    f.BarRead((int)unit.A, unit.B, sink.ReadBuffer((int)unit.C));
                    break;
                }

            case TraceEventKind.BarWrite:
                {
                    var bar = Bar(f, unit, tracePath);
                    Offset(unit, unit.B, (ulong)unit.Data.Length, bar.Size, null, tracePath);
                    f.BarWrite((int)unit.A, unit.B, unit.Data);
                    break;
                }

            case TraceEventKind.RomRead:
                Offset(unit, unit.A, unit.B, f.Rom?.Size ?? MaxAccessBytes, "the expansion ROM", tracePath);
                f.RomRead(unit.A, sink.ReadBuffer((int)unit.B));
                break;
            case TraceEventKind.Reset:
                f.Reset(Defined<ResetKind>(unit, unit.A, tracePath));
                break;
            case TraceEventKind.DmaMap:
#pragma warning disable CA2000 // Map owns the backing from the call on, mapped or refused (it disposes a refused one)
                f.DmaMappings.Map(unit.A, unit.B, (DmaAccess)(unit.C & (ulong)DmaAccess.ReadWrite), new ReplayBacking((unit.C & DmaController.LocalBackingFlag) != 0));
#pragma warning restore CA2000
                break;
            case TraceEventKind.DmaUnmap:
                f.DmaMappings.Unmap(unit.A, unit.B);
                break;
            case TraceEventKind.DmaUnmapAll:
                f.DmaMappings.UnmapAll();
                break;
            case TraceEventKind.IrqAssign:
                {
                    var index = Irq(f, unit, unit.B, (ulong)unit.Data.Length, tracePath);
                    var signals = unit.Data.ToArray().Select(b => b != 0 ? new ReplaySignal() : (IInterruptSignal?)null).ToArray();
                    f.Interrupts.Assign(index, (int)unit.B, signals);
                    break;
                }

            case TraceEventKind.IrqDisable:
                f.Interrupts.DisableAll(Irq(f, unit, 0, 0, tracePath));
                break;
            case TraceEventKind.IrqMask:
                {
                    ulong count = unit.C & 0xFFFF_FFFF;
                    f.Interrupts.SetMasked(Irq(f, unit, unit.B, count, tracePath), (int)unit.B, (int)count, (unit.C >> 32) != 0);
                    break;
                }

            case TraceEventKind.IrqInject:
                f.Interrupts.Inject(Irq(f, unit, unit.B, 1, tracePath), (int)unit.B);
                break;
            case TraceEventKind.IrqRelease:
                f.Interrupts.ReleaseClientSignals();
                break;
            case TraceEventKind.SchedulerStep:
                f.Scheduler.Step();
                break;
            default:
                throw new TraceFormatException($"{tracePath}: record {unit.Index}: {unit.Kind} is not a unit");
        }
    }

    private static int Offset(RecordCopy unit, ulong offset, ulong length, ulong size, string? what, string tracePath)
    {
        if (length == 0 || length > MaxAccessBytes || offset >= size || length > size - offset)
        {
            throw new TraceFormatException($"{tracePath}: record {unit.Index} ({unit.Kind}): {length} B at 0x{offset:x} is outside {what ?? $"BAR{unit.A}"} (0x{size:x} B)");
        }

        return (int)Math.Min(offset, int.MaxValue);
    }

    private static Pci.Bars.PciBar Bar(PciFunction f, RecordCopy unit, string tracePath) =>
        unit.A < (ulong)f.Bars.Count && f.Bars[(int)unit.A] is { } bar
            ? bar
            : throw new TraceFormatException($"{tracePath}: record {unit.Index} ({unit.Kind}): the card has no BAR{unit.A}");

    private static IrqIndex Irq(PciFunction f, RecordCopy unit, ulong start, ulong count, string tracePath)
    {
        var index = Defined<IrqIndex>(unit, unit.A, tracePath);
        int vectors = f.Interrupts.VectorCount(index);
        if (start > (ulong)vectors || count > (ulong)vectors - start)
        {
            throw new TraceFormatException($"{tracePath}: record {unit.Index} ({unit.Kind}): vectors [{start}, +{count}) of {index}, which has {vectors}");
        }

        return index;
    }

    private static T Defined<T>(RecordCopy unit, ulong value, string tracePath)
        where T : struct, Enum
    {
        if (value <= int.MaxValue && Enum.IsDefined(typeof(T), (int)value))
        {
            return (T)Enum.ToObject(typeof(T), (int)value);
        }

        throw new TraceFormatException($"{tracePath}: record {unit.Index} ({unit.Kind}): {value} is no {typeof(T).Name}");
    }

    /// <summary>
    /// The divergence with the records around it. Replay keeps no history (it copies nothing per record), so the
    /// context comes from reading the file again up to a few records past the divergence: the error path pays, not
    /// every replay.
    /// </summary>
    private static ReplayDivergence Describe(TraceDivergenceException e, ReplaySink sink, string tracePath, RecordSchema schema, int context)
    {
        var unit = sink.DivergedUnit!;
        var at = sink.DivergedAt ?? unit;
        var before = new Queue<string>();
        var after = new List<string>();
        try
        {
            using var again = TraceReader.Open(tracePath);
            while (after.Count < context && again.TryReadView(out RecordView r))
            {
                if (r.Index < at.Index)
                {
                    if (r.Index >= at.Index - context)
                    {
                        before.Enqueue(TraceEventText.Line(r.ToEvent(), schema));
                    }
                }
                else if (r.Index > at.Index)
                {
                    after.Add(TraceEventText.Line(r.ToEvent(), schema));
                }
            }
        }
        catch (TraceFormatException f)
        {
            after.Add($"(the trace is unreadable after this: {f.Message})");
        }

        return new ReplayDivergence
        {
            Reason = e.Message, At = at, Unit = unit, Replayed = sink.Replayed, Before = [.. before], After = after, Schema = schema,
        };
    }
}
