using PcieEmu.Pci.Dma;

namespace PcieEmu.Pci.Observation;

/// <summary>
/// How a function is observed: every stimulus runs as a unit under one gate, at one device-clock instant sampled
/// when the unit begins, and everything the device does inside the unit is noted after it. Because units never
/// interleave, the order the observer sees is an order the device can be driven in again (replay); and because
/// the function's clock (<see cref="PciFunction.Clock"/>) reads the unit's instant while a unit runs on the
/// calling thread, a device sees the same times on replay. Only the framework begins units (bus accesses, the
/// client's DMA and interrupt set-up, scheduler steps); a device uses it only to <see cref="Note"/> its own records
/// (its <see cref="Hosting.IPciDevice.RecordKinds"/>), and a host to end a recording (<see cref="RunBetweenUnits"/>).
/// Returned by <see cref="PciFunction.Observe"/>; thread-safe.
/// <para>
/// The gate is taken before the function lock. A unit's DMA therefore cannot wait on the client (a message DMA
/// reply is read by the thread a bus access would block): while observed, DMA that needs messages fails with
/// <see cref="DmaResult.TransportError"/>; recording needs guest RAM shared with the server.
/// </para>
/// </summary>
public sealed class FunctionObservation
{
    private readonly Lock _gate = new();
    private readonly Func<long> _clock;
    private long _unitTime;
    private TraceEventKind _deferredKind;
    private bool _deferred;
    private bool _inUnit;
    private bool _workPending;
    private ulong _work;
    private long _outsideUnits;

    /// <param name="observer">Where records go.</param>
    /// <param name="clock">The device's own clock in nanoseconds (unfrozen).</param>
    internal FunctionObservation(IFunctionObserver observer, Func<long> clock)
    {
        Observer = observer;
        _clock = clock;
    }

    internal IFunctionObserver Observer { get; }

    /// <summary>True on the thread running a unit.</summary>
    internal bool InUnit => _gate.IsHeldByCurrentThread;

    /// <summary>The instant of the unit running on this thread (meaningful only when <see cref="InUnit"/>).</summary>
    internal long UnitTime => Volatile.Read(ref _unitTime);

    /// <summary>Records noted outside any unit (a device bug for replay purposes).</summary>
    internal long RecordsOutsideUnits => Interlocked.Read(ref _outsideUnits);

    /// <summary>
    /// Begins a unit and records it. Inside a unit this is a no-op scope: a stimulus the device causes itself
    /// is part of the unit that caused it and is re-created when that unit is replayed.
    /// </summary>
    internal Scope Begin(TraceEventKind kind, ulong a = 0, ulong b = 0, ulong c = 0, ReadOnlySpan<byte> data = default)
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
            _workPending = false;
            _inUnit = true;
            Observer.Write(new TraceRecord(kind, _unitTime, a, b, c, data));
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
    internal Scope BeginDeferred(TraceEventKind kind)
    {
        if (_gate.IsHeldByCurrentThread)
        {
            return default;
        }

        _gate.Enter();
        _unitTime = _clock();
        _inUnit = true;
        _deferred = true;
        _workPending = false;
        _deferredKind = kind;
        return new Scope(this);
    }

    /// <summary>
    /// Runs <paramref name="action"/> between units (none runs meanwhile): how a recording ends, so the trace never
    /// stops in the middle of a unit.
    /// </summary>
    /// <param name="action">Runs on the calling thread with every unit held off; must not start a unit itself.</param>
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
    internal void MarkSignificant()
    {
        if (_gate.IsHeldByCurrentThread)
        {
            FlushDeferred();
        }
    }

    /// <summary>
    /// The scheduler starts running work item <paramref name="work"/>: a <see cref="TraceEventKind.Work"/> record,
    /// written only if the work item records something (an idle item leaves no trace).
    /// </summary>
    internal void BeginWork(int work)
    {
        _workPending = true;
        _work = (ulong)work;
    }

    /// <summary>
    /// Records something the device did, as part of the unit running now (a record noted outside every unit cannot be
    /// replayed in place). Takes the observation's gate: never call it while holding a lock a unit may wait for.
    /// </summary>
    /// <param name="record">A record of one of the device's own kinds (<see cref="DeviceRecordKind.Record"/>).</param>
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
            Observer.Write(record);
        }
        finally
        {
            _gate.Exit();
        }
    }

    /// <summary>Replay: the recorded outcome of the device's DMA <paramref name="attempt"/>.</summary>
    internal DmaResult SupplyDma(in TraceRecord attempt, Span<byte> readInto)
    {
        _gate.Enter();
        try
        {
            FlushDeferred();
            return Observer.SupplyDma(attempt, readInto);
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
            Observer.Write(new TraceRecord(_deferredKind, _unitTime));
        }

        if (_workPending && _gate.IsHeldByCurrentThread && _inUnit)
        {
            _workPending = false;
            Observer.Write(new TraceRecord(TraceEventKind.Work, a: _work));
        }
    }

    private void End()
    {
        _deferred = false;
        _workPending = false;
        _inUnit = false;
        _gate.Exit();
    }

    /// <summary>A running unit; disposing ends it. The default value (a nested begin, or no observer) does nothing.</summary>
    internal readonly ref struct Scope
    {
        private readonly FunctionObservation? _observation;

        internal Scope(FunctionObservation observation) => _observation = observation;

        /// <summary>True for the unit that began here (not a nested begin).</summary>
        public bool IsUnit => _observation is not null;

        /// <summary>Records the bytes a read unit returned (outer units only).</summary>
        public void NoteReadData(ReadOnlySpan<byte> data) => _observation?.Note(new TraceRecord(TraceEventKind.ReadData, data: data));

        public void Dispose() => _observation?.End();
    }
}
