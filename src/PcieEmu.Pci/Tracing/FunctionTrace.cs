using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Tracing;

/// <summary>
/// Tracing of one function: every stimulus runs as a unit under one gate, at one device-clock instant sampled
/// when the unit begins, and everything the device does inside the unit is recorded after it. Because units
/// never interleave, the order in the trace is an order the device can be driven in again (replay), and a
/// device that reads its clock inside a unit (<see cref="UnitTime"/>) sees the same time on replay.
/// <para>
/// The gate is taken before the function lock. A unit's DMA therefore cannot wait on the client (a message DMA
/// reply is read by the thread a bus access would block): while tracing, DMA that needs messages fails with
/// <see cref="DmaResult.TransportError"/>; recording needs guest RAM shared with the server.
/// </para>
/// </summary>
public sealed class FunctionTrace
{
    private readonly Lock _gate = new();
    private readonly Func<long> _clock;
    private long _unitTime;
    private TraceEventKind _deferredKind;
    private bool _deferred;
    private bool _inUnit;
    private long _outsideUnits;

    /// <param name="sink">Where records go.</param>
    /// <param name="clock">The device clock in nanoseconds (the device's own, unfrozen).</param>
    public FunctionTrace(ITraceSink sink, Func<long> clock)
    {
        Sink = sink;
        _clock = clock;
    }

    public ITraceSink Sink { get; }

    /// <summary>True on the thread running a unit.</summary>
    public bool InUnit => _gate.IsHeldByCurrentThread;

    /// <summary>The instant of the unit running on this thread (meaningful only when <see cref="InUnit"/>).</summary>
    public long UnitTime => Volatile.Read(ref _unitTime);

    /// <summary>Records noted outside any unit (a device bug for replay purposes; reported by the tools).</summary>
    public long RecordsOutsideUnits => Interlocked.Read(ref _outsideUnits);

    /// <summary>
    /// Begins a unit and records it. Inside a unit this is a no-op scope: a stimulus the device causes itself
    /// is part of the unit that caused it and is re-created when that unit is replayed.
    /// </summary>
    public Scope Begin(TraceEventKind kind, ulong a = 0, ulong b = 0, ulong c = 0, ReadOnlySpan<byte> data = default)
    {
        if (_gate.IsHeldByCurrentThread)
        {
            return default;
        }

        _gate.Enter();
        try
        {
            _unitTime = _clock();
            _deferred = false;
            _inUnit = true;
            Sink.Write(new TraceRecord(kind, _unitTime, a, b, c, data));
            return new Scope(this);
        }
        catch
        {
            _inUnit = false;
            _gate.Exit();
            throw;
        }
    }

    /// <summary>
    /// Begins a unit recorded only if something happens in it (a nested record or <see cref="MarkSignificant"/>):
    /// a scheduler step that finds nothing due changes nothing, and a trace of idle steps would be noise.
    /// </summary>
    public Scope BeginDeferred(TraceEventKind kind)
    {
        if (_gate.IsHeldByCurrentThread)
        {
            return default;
        }

        _gate.Enter();
        _unitTime = _clock();
        _inUnit = true;
        _deferred = true;
        _deferredKind = kind;
        return new Scope(this);
    }

    /// <summary>
    /// Runs <paramref name="action"/> between units (none runs meanwhile): how a recording ends, so the trace never
    /// stops in the middle of a unit.
    /// </summary>
    public void RunBetweenUnits(Action action)
    {
        _gate.Enter();
        try
        {
            action();
        }
        finally
        {
            _gate.Exit();
        }
    }

    /// <summary>The running deferred unit changed device state without a nested record: record it.</summary>
    public void MarkSignificant()
    {
        if (_gate.IsHeldByCurrentThread)
        {
            FlushDeferred();
        }
    }

    /// <summary>Records something the device did (inside the current unit).</summary>
    public void Note(in TraceRecord record)
    {
        _gate.Enter();
        try
        {
            if (!_inUnit)
            {
                Interlocked.Increment(ref _outsideUnits);
            }

            FlushDeferred();
            Sink.Write(record);
        }
        finally
        {
            _gate.Exit();
        }
    }

    /// <summary>Replay: the recorded outcome of the device's DMA <paramref name="attempt"/>.</summary>
    public DmaResult ReplayDma(in TraceRecord attempt, Span<byte> readInto)
    {
        _gate.Enter();
        try
        {
            FlushDeferred();
            return Sink.ReplayDma(attempt, readInto);
        }
        finally
        {
            _gate.Exit();
        }
    }

    private void FlushDeferred()
    {
        if (_deferred)
        {
            _deferred = false;
            Sink.Write(new TraceRecord(_deferredKind, _unitTime));
        }
    }

    private void End()
    {
        _deferred = false;
        _inUnit = false;
        _gate.Exit();
    }

    /// <summary>A running unit; disposing ends it. The default value (a nested begin) does nothing.</summary>
    public readonly ref struct Scope
    {
        private readonly FunctionTrace? _trace;

        internal Scope(FunctionTrace trace) => _trace = trace;

        /// <summary>True for the unit that began here (not a nested begin).</summary>
        public bool IsUnit => _trace is not null;

        /// <summary>Records the bytes a read unit returned (outer units only).</summary>
        public void NoteReadData(ReadOnlySpan<byte> data) => _trace?.Note(new TraceRecord(TraceEventKind.ReadData, data: data));

        public void Dispose() => _trace?.End();
    }
}
