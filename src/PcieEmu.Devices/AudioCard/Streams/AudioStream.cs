using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.AudioCard.Interrupts;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Checking;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Registers;
using PcieEmu.Pci.Scheduling;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>
/// One stream of the card (spec §9–§12); <see cref="PlaybackStream"/> and <see cref="CaptureStream"/> add their
/// direction. Register side effects run under the function lock and only change state; moving samples (DMA, DSP,
/// the sink or source) happens in <see cref="Run"/> on the card's scheduler, which takes the lock only to read and
/// publish state — never around DMA. Each RUN starts a new generation: work of an older generation that finishes
/// late is dropped.
/// </summary>
public abstract class AudioStream : IScheduledWork, IStreamLifecycle
{
    private readonly IStreamHost _host;
    private readonly object _endpointGate = new();
    private readonly StreamRegisterBlock _registers;
    private readonly CauseRegister _causes;
    private readonly StreamGains _gains;
    private readonly StreamFaultReporter _faults;
    private readonly ChunkScratch _scratch = new();
    private State _state;
    private long _generation;
    private StreamRun? _run;

    /// <summary>The guest access that set RUN for the current (or last) run: what a refusal or a failure is charged to.</summary>
    private GuestAccess? _runCause;

    private static bool IsCaptureDirection(StreamLayout layout) => layout.Direction == StreamDirection.Capture;

    private protected AudioStream(IStreamHost host, int index, StreamLayout layout, RegisterBank bank, CardInterrupts interrupts, long keepSampleBytes)
    {
        _host = host;
        Index = index;
        Layout = layout;
        _registers = new StreamRegisterBlock(bank, index);
        _faults = new StreamFaultReporter(host, index, _registers);
        _causes = new CauseRegister(bank, _registers.Offset(AudioSdRegister.Sts), () => StreamRegisterHandlers.EnabledCauses(_registers.Get(AudioSdRegister.Ctl)), _ => Vector, interrupts)
        {
            WatchAcknowledge = true,
            NotAcknowledged = _faults.NotAcknowledged,
        };
        interrupts.Add(_causes);
        Recorder = new SampleRecorder(keepSampleBytes);
        _gains = new StreamGains(_registers, attenuateOnly: !IsCaptureDirection(layout));
        RegisterHandlers = new StreamRegisterHandlers(this, _registers, _gains, _causes, _faults);
    }

    private enum State
    {
        Idle,
        Starting,
        Running,
    }

    /// <summary>
    /// The stream's number on the card, 0-based in card order (playback streams first, spec §9): it picks the SD
    /// register block (<see cref="Base"/>) and the MSI-X vector (<see cref="Vector"/>).
    /// </summary>
    public int Index { get; }

    /// <summary>The stream as the model file declares it: name, direction, channels, formats, rates and route.</summary>
    public StreamLayout Layout { get; }

    /// <summary>True for a capture stream (card to guest memory), false for a playback stream.</summary>
    public abstract bool IsCapture { get; }

    /// <summary>The stream's register block in BAR0.</summary>
    public uint Base => _registers.Base;

    /// <summary>The host-side record of what this stream transferred (spec §13).</summary>
    public abstract IReadOnlyList<RecordedRun> Runs { get; }

    /// <summary>Frames moved, periods completed, lateness and faults since the card was created; any thread (may lag a step).</summary>
    public StreamStatistics Statistics { get; } = new();

    /// <summary>
    /// The driver's RUN took and validation passed: the scheduler is moving samples. False while idle, stopped by a
    /// fault, or still validating a start off the register path. Any thread may poll it (a lock-free read that can be
    /// a step stale); read it under the function lock to act on it.
    /// </summary>
    public bool IsRunning => _state == State.Running;

    /// <summary>RUN took (running, or validating its start). Read under the function lock.</summary>
    internal bool IsStarted => _state != State.Idle;

    bool IStreamLifecycle.IsStarted => IsStarted;

    /// <summary>The side effects of the stream's SD registers, for the card's register bank.</summary>
    internal IAudioSdRegisterHandlers RegisterHandlers { get; }

    /// <summary>The MSI-X vector of the stream's interrupts (spec §5).</summary>
    public int Vector => 1 + Index;

    /// <summary>Records what the stream transferred when its endpoint does not keep it itself.</summary>
    private protected SampleRecorder Recorder { get; }

    /// <summary>The endpoint starts and stops with file I/O: off the register path, on the scheduler.</summary>
    private protected abstract bool EndpointDoesIo { get; }

    /// <summary>The endpoint keeps its own record of runs (a memory sink).</summary>
    private protected virtual bool EndpointRecords => false;

    private protected IStreamHost Host => _host;

    internal ulong Caps => StreamGains.CapsOf(Layout, IsCapture);

    /// <summary>Enabled causes pending (INTSTS.SIS, spec §9.4).</summary>
    internal bool InterruptPending => _causes.Pending != 0;

    /// <summary>Starts the endpoint for a run; null, or why it cannot serve the format.</summary>
    private protected abstract string? StartEndpoint(AudioFormat format);

    private protected abstract void StopEndpoint();

    // ------------------------------------------------------------------ lifecycle (lock held)

    /// <summary>After a card-wide register reset: channel gains back to 0 dB.</summary>
    internal void ResetGains() => _gains.Reset();

    void IStreamLifecycle.StopLocked(string reason) => StopLocked(reason);

    /// <summary>RUN 0→1 (spec §9.3): validate now if guest memory is local and the endpoint does no I/O, else on the scheduler.</summary>
    void IStreamLifecycle.StartLocked()
    {
        if (_state != State.Idle)
        {
            return;
        }

        _registers.ClearBits(AudioSdRegister.Sts, AudioSdFields.Sts.Errcode);
        var regs = _registers.Snapshot();
        _runCause = _host.CurrentAccess;
        var code = StreamProgram.TryBuild(regs, Layout, _host.DmaConstraints, _host.Dma, localOnly: true, out var program, out bool wouldBlock, out var fault);
        _generation++;
        if (wouldBlock || EndpointDoesIo)
        {
            _state = State.Starting;
            long generation = _generation;
            _host.Scheduler.Post(() => FinishStart(regs, generation));
            return;
        }

        Apply(code, program, fault, code == AudioDmaErr.None ? StartEndpointLocked(program!.Format) : null);
    }

    /// <summary>
    /// On the scheduler, no function lock held: validation that needs message DMA, and endpoints that open or read
    /// files. A start the guest took back meanwhile (RUN cleared, reset) stops its endpoint again.
    /// </summary>
    private void FinishStart(StreamRegisters regs, long generation)
    {
        var code = StreamProgram.TryBuild(regs, Layout, _host.DmaConstraints, _host.Dma, localOnly: false, out var program, out _, out var fault);
        string? endpointError = code == AudioDmaErr.None ? StartEndpointLocked(program!.Format) : null;
        bool applied = false;
        lock (_host.Sync)
        {
            if (_generation == generation && _state == State.Starting)
            {
                _state = State.Idle;
                Apply(code, program, fault, endpointError);
                _causes.StatusChanged();
                applied = true;
            }
        }

        if (!applied && code == AudioDmaErr.None && endpointError is null)
        {
            StopEndpointLocked();
        }
    }

    private string? StartEndpointLocked(AudioFormat format)
    {
        lock (_endpointGate)
        {
            return StartEndpoint(format);
        }
    }

    private void StopEndpointLocked()
    {
        lock (_endpointGate)
        {
            StopEndpoint();
        }
    }

    /// <summary>Under the function lock: ends a start, by running the stream or refusing it with ERR and the code.</summary>
    /// <param name="code">The validation's outcome: <see cref="AudioDmaErr.None"/>, or the ERRCODE the start fails with.</param>
    /// <param name="program">The validated run (descriptors, format), when <paramref name="code"/> is None.</param>
    /// <param name="fault">What failed and where, reported when <paramref name="code"/> is not None.</param>
    /// <param name="endpointError">What the endpoint said when it was started for this run (null: started).</param>
    private void Apply(AudioDmaErr code, StreamProgram? program, StreamFault fault, string? endpointError)
    {
        if (code == AudioDmaErr.None)
        {
            if (endpointError is not null)
            {
                // The host's side could not serve the stream (a WAV file, a loopback): not the driver's doing.
                _host.HostProblem("StreamEndpoint", endpointError, Index);
                code = AudioDmaErr.Transport;
                fault = new StreamFault(code, endpointError);
            }
            else if (!EndpointRecords)
            {
                lock (_endpointGate)
                {
                    Recorder.BeginRun(program!.Format);
                }
            }
        }

        if (code != AudioDmaErr.None)
        {
            Refuse(fault, stopped: false);
            return;
        }

        _run = new StreamRun(program!, _host.Clock.NowNanoseconds);
        _scratch.EnsureFor(program!.Format);

        _registers.ClearPositions();
        _registers.SetBits(AudioSdRegister.Sts, AudioSdFields.Sts.Running);
        _state = State.Running;
        Statistics.Runs++;
        StreamLog.Started(_host.Logger, Index, program.Format.ToString(), program.Segments.Length, program.BufferBytes, program.IocFrames.Length);
        _host.Scheduler.Wake();
    }

    /// <summary>A start refused or a running stream failed: RUN cleared, ERR with the code (spec §9.3, §10).</summary>
    private void Refuse(StreamFault fault, bool stopped)
    {
        _registers.StopWithError(fault.Code);
        _faults.Faulted(fault, stopped, _runCause);
        _causes.Raise(AudioSdFields.Sts.Err);
    }

    /// <summary>Stops the stream (RUN cleared, SRST, resets): no byte moves and no interrupt is raised after this.</summary>
    internal void StopLocked(string reason)
    {
        if (_state == State.Idle)
        {
            return;
        }

        bool wasRunning = _state == State.Running;
        _generation++;
        _state = State.Idle;
        _registers.ClearBits(AudioSdRegister.Sts, AudioSdFields.Sts.Running);
        if (wasRunning)
        {
            if (EndpointDoesIo)
            {
                // Closing a file is I/O: not inside the guest's register write. Jobs run in order, so this stop
                // comes before the endpoint's next start.
                _host.Scheduler.Post(StopEndpointLocked);
            }
            else
            {
                StopEndpointLocked();
            }

            StreamLog.Stopped(_host.Logger, Index, reason, _run!.Frames);
        }
    }

    /// <summary>The client left: a running stream ends with ERR/TRANSPORT (spec §7).</summary>
    internal void AbortLocked()
    {
        if (_state == State.Idle)
        {
            return;
        }

        StopLocked("client lost"); // clears STS.RUNNING
        _registers.StopWithError(AudioDmaErr.Transport);
        _registers.SetBits(AudioSdRegister.Sts, AudioSdFields.Sts.Err);
    }

    // ------------------------------------------------------------------ scheduler side

    /// <summary>When the next IOC boundary is due, or long.MaxValue when not running.</summary>
    public long NextDeadline()
    {
        lock (_host.Sync)
        {
            if (_state != State.Running)
            {
                return long.MaxValue;
            }

            return _run!.NextIocDue();
        }
    }

    /// <summary>Moves every frame due by <paramref name="now"/> (spec §11). On the scheduler, no lock held on entry.</summary>
    public void Run(long now)
    {
        StreamRun run;
        long generation, from;
        lock (_host.Sync)
        {
            if (_state != State.Running)
            {
                return;
            }

            run = _run!;
            generation = _generation;
            from = run.Frames;
        }

        var program = run.Program;
        long due = run.FramesAt(now);
        if (due <= from)
        {
            return;
        }

        var gains = _gains.Current;
        long todo = due - from;
        long lost = Math.Max(0, todo - program.BufferFrames);
        var format = program.Format;
        long frame = from;
        if (lost > 0)
        {
            // More than a buffer behind (spec §11.4): the oldest frames are gone.
            if (!SkipLost(generation, lost, format))
            {
                return;
            }

            frame += lost;
            Statistics.LostFrames += lost;
        }

        while (frame < due)
        {
            int n = (int)Math.Min(due - frame, ChunkScratch.MaxFrames);
            var chunk = _scratch.For(n, format);
            long offset = frame % program.BufferFrames * format.FrameBytes;
            if (!MoveChunk(program, generation, chunk, offset, frame, gains, out var r))
            {
                return;
            }

            if (r != DmaResult.Ok)
            {
                var access = IsCapture ? DmaAccess.Write : DmaAccess.Read;
                Fail(generation, new StreamFault(AudioDmaErrors.Of(r), $"the buffer DMA at frame {frame} ({(IsCapture ? "write" : "read")} of {chunk.Length} B at buffer offset {offset}) failed: {r}",
                    BadAddress: program.BufferFirstFault(_host.Dma, offset, chunk.Length, access), Descriptor: program.DescriptorAt(offset)));
                return;
            }

            frame += n;
        }

        Commit(run, generation, from, due, lost > 0, now);
    }

    /// <summary>
    /// Moves one chunk between the buffer at <paramref name="bufferOffset"/> and the endpoint, through the gains.
    /// False when the run ended meanwhile (nothing more to do); otherwise <paramref name="result"/> is the DMA's.
    /// </summary>
    private protected abstract bool MoveChunk(StreamProgram program, long generation, Span<byte> chunk, long bufferOffset, long frame,
        ChannelGain[] gains, out DmaResult result);

    /// <summary>Frames lost to an overrun: playback hands silence in their place, capture just skips them. False when the run ended.</summary>
    private protected virtual bool SkipLost(long generation, long lost, AudioFormat format) => true;

    /// <summary>The scratch buffer for <paramref name="frames"/> frames of <paramref name="format"/>.</summary>
    private protected Span<byte> Scratch(int frames, AudioFormat format) => _scratch.For(frames, format);

    private protected const int ChunkFrames = ChunkScratch.MaxFrames;

    /// <summary>Held while the endpoint is used, so a stop (on another thread) never overlaps a transfer.</summary>
    private protected object EndpointGate => _endpointGate;

    /// <summary>Whether the run of <paramref name="generation"/> is still the current one (check under <see cref="EndpointGate"/>).</summary>
    private protected bool IsCurrent(long generation) => Volatile.Read(ref _generation) == generation;

    /// <summary>Publishes positions, then (after the position record) raises IOC/XRUN (spec §11.1–§11.4).</summary>
    private void Commit(StreamRun run, long generation, long from, long to, bool xrun, long now)
    {
        var program = run.Program;
        long iocs, wraps;
        Span<byte> record = stackalloc byte[16];
        bool writeRecord;
        lock (_host.Sync)
        {
            if (_generation != generation)
            {
                return;
            }

            run.AdvanceTo(to);
            Statistics.FramesMoved += to - from;
            iocs = program.IocCrossings(from, to);
            wraps = (to / program.BufferFrames) - (from / program.BufferFrames);
            long wrapFrame = to / program.BufferFrames * program.BufferFrames;
            _registers.PublishPosition(program, to, iocs, wraps > 0 ? wrapFrame : -1, wraps > 0 ? run.Due(wrapFrame) : 0, record);
            writeRecord = program.PosBufEnabled && (iocs > 0 || wraps > 0);
        }

        if (writeRecord)
        {
            var r = _host.Dma.Write(program.PosBufAddress, record);
            if (r != DmaResult.Ok)
            {
                Fail(generation, new StreamFault(AudioDmaErrors.Of(r), $"the position buffer write at 0x{program.PosBufAddress:x} failed: {r}",
                    AudioSdRegister.Posbuf, program.PosBufAddress | 1, BadAddress: _host.Dma.FirstFault(program.PosBufAddress, 16, DmaAccess.Write)));
                return;
            }
        }

        lock (_host.Sync)
        {
            if (_generation != generation)
            {
                return;
            }

            if (xrun)
            {
                Statistics.Xruns++;
                _causes.Raise(AudioSdFields.Sts.Xrun);
            }

            for (long i = 0; i < iocs; i++)
            {
                _causes.Raise(AudioSdFields.Sts.Ioc);
            }
        }

        if (iocs > 0)
        {
            Statistics.Periods += iocs;
            long boundary = program.NextIocFrame(from);
            Statistics.NoteIocLateness(now - run.Due(boundary));
        }
    }

    private void Fail(long generation, StreamFault fault)
    {
        lock (_host.Sync)
        {
            if (_generation != generation)
            {
                return;
            }

            StopLocked($"error {fault.Code}");
            Refuse(fault, stopped: true);
        }
    }
}
