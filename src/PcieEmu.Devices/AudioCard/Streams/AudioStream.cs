using System.Buffers;
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
public abstract class AudioStream : IScheduledWork, IAudioSdRegisterHandlers
{
    /// <summary>Frames moved per DMA chunk at most (bounds the scratch buffer).</summary>
    private const int MaxChunkFrames = 2048;

    private readonly IStreamHost _host;
    private readonly object _endpointGate = new();
    private readonly StreamRegisterBlock _registers;
    private readonly CauseRegister _causes;
    private readonly StreamGains _gains;
    private State _state;
    private long _generation;
    private StreamProgram? _program;

    /// <summary>The guest access that set RUN for the current (or last) run: what a refusal or a failure is charged to.</summary>
    private GuestAccess? _runCause;
    private long _t0;
    private long _frames;
    private byte[] _scratch = [];

    private static bool IsCaptureDirection(StreamLayout layout) => layout.Direction == StreamDirection.Capture;

    private protected AudioStream(IStreamHost host, int index, StreamLayout layout, RegisterBank bank, CardInterrupts interrupts, long keepSampleBytes)
    {
        _host = host;
        Index = index;
        Layout = layout;
        _registers = new StreamRegisterBlock(bank, index);
        _causes = new CauseRegister(bank, _registers.Offset(AudioSdRegister.Sts), () => EnabledCauses(_registers.Get(AudioSdRegister.Ctl)), _ => Vector, interrupts)
        {
            WatchAcknowledge = true,
            NotAcknowledged = NotAcknowledged,
        };
        interrupts.Add(_causes);
        Recorder = new SampleRecorder(keepSampleBytes);
        _gains = new StreamGains(_registers, attenuateOnly: !IsCaptureDirection(layout));
    }

    private enum State
    {
        Idle,
        Starting,
        Running,
    }

    public int Index { get; }

    public StreamLayout Layout { get; }

    public abstract bool IsCapture { get; }

    /// <summary>The stream's register block in BAR0.</summary>
    public uint Base => _registers.Base;

    /// <summary>The host-side record of what this stream transferred (spec §13).</summary>
    public abstract IReadOnlyList<RecordedRun> Runs { get; }

    public StreamStatistics Statistics { get; } = new();

    public bool IsRunning => _state == State.Running;

    /// <summary>RUN took (running, or validating its start). Read under the function lock.</summary>
    internal bool IsStarted => _state != State.Idle;

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

    // ------------------------------------------------------------------ register side effects (lock held)

    private static ulong EnabledCauses(ulong ctl) =>
        ((ctl & AudioSdFields.Ctl.Ioce) != 0 ? AudioSdFields.Sts.Ioc : 0)
        | ((ctl & AudioSdFields.Ctl.Erre) != 0 ? AudioSdFields.Sts.Xrun | AudioSdFields.Sts.Err : 0);

    /// <summary>SD_CTL (spec §9.3): SRST, RUN 0→1 starts, 1→0 stops; the enables gate the causes.</summary>
    void IAudioSdRegisterHandlers.StreamControl(in RegisterWrite write)
    {
        if ((write.NewValue & AudioSdFields.Ctl.Srst) != 0)
        {
            StopLocked("SRST");
            _registers.Reset();
            _gains.Reset();
            _causes.StatusChanged();
            return;
        }

        bool runNow = (write.NewValue & AudioSdFields.Ctl.Run) != 0;
        bool runBefore = (write.OldValue & AudioSdFields.Ctl.Run) != 0;
        _causes.EnablesChanged(EnabledCauses(write.OldValue));
        if (runNow && !runBefore)
        {
            StartLocked();
        }
        else if (!runNow && runBefore)
        {
            StopLocked("RUN cleared");
        }

        _causes.StatusChanged();
    }

    void IAudioSdRegisterHandlers.StreamStatusWritten(in RegisterWrite write) => _causes.StatusChanged();

    /// <summary>SD_STS read: the driver sees the causes set now (the acknowledge watch, spec §9.4).</summary>
    ulong IAudioSdRegisterHandlers.StreamStatusRead(RegisterDefinition register, ulong stored)
    {
        _causes.StatusRead();
        return stored;
    }

    /// <summary>SD_FMT, SD_BDL, SD_BDLN, SD_CBL, SD_POSBUF: refused (old value kept) while the stream runs.</summary>
    void IAudioSdRegisterHandlers.StreamProgrammed(in RegisterWrite write)
    {
        if (_state != State.Idle)
        {
            _registers.Set(write.Register.Offset, write.OldValue);
            _host.Violation(AudioRules.StreamReprogrammedWhileRunning, new ViolationDetails
            {
                What = $"wrote {write.Register.Name} (0x{write.Written:x}) while stream {Index} runs; the write was ignored",
                Stream = Index,
                Register = write.Register.Name,
                RegisterOffset = write.Register.Offset,
                Value = write.Written,
            });
        }
    }

    /// <summary>SD_CHVOL&lt;c&gt; (spec §12).</summary>
    void IAudioSdRegisterHandlers.ChannelVolumeWritten(in RegisterWrite write) => _gains.Written(write);

    /// <summary>The driver keeps handling this stream's interrupts without clearing the cause (spec §9.4): a storm in the making.</summary>
    private void NotAcknowledged(ulong cause, int raises)
    {
        string name = cause == AudioSdFields.Sts.Ioc ? "IOC" : cause == AudioSdFields.Sts.Xrun ? "XRUN" : "ERR";
        uint sts = AudioSdBlock.Offset(Index, AudioSdRegister.Sts);
        _host.Violation(AudioRules.InterruptNotAcknowledged, new ViolationDetails
        {
            What = $"SD_STS.{name} of stream {Index} was raised {raises} times in a row while still set, with the driver accessing the card in between: the interrupt handler never writes 1 to clear it",
            Stream = Index,
            Register = _host.RegisterName(sts),
            RegisterOffset = sts,
            Value = _registers.Get(AudioSdRegister.Sts),
            Consequence = "one event per raise still goes out (spec §5); with INTx the line would stay asserted",
        });
    }

    /// <summary>After a card-wide register reset: channel gains back to 0 dB.</summary>
    internal void ResetGains() => _gains.Reset();

    /// <summary>RUN 0→1 (spec §9.3): validate now if guest memory is local and the endpoint does no I/O, else on the scheduler.</summary>
    private void StartLocked()
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

        _program = program;
        _t0 = _host.Clock.NowNanoseconds;
        _frames = 0;
        int scratchBytes = MaxChunkFrames * program!.Format.FrameBytes;
        if (_scratch.Length < scratchBytes)
        {
            if (_scratch.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_scratch);
            }

            _scratch = ArrayPool<byte>.Shared.Rent(scratchBytes);
        }

        foreach (var r in new[] { AudioSdRegister.Lpib, AudioSdRegister.Bcnt, AudioSdRegister.Frames, AudioSdRegister.ZtsFrames, AudioSdRegister.ZtsTime })
        {
            _registers.Set(r, 0);
        }

        _registers.SetBits(AudioSdRegister.Sts, AudioSdFields.Sts.Running);
        _state = State.Running;
        Statistics.Runs++;
        StreamLog.Started(_host.Logger, Index, program.Format.ToString(), program.Segments.Length, program.BufferBytes, program.IocFrames.Length);
        _host.Scheduler.Wake();
    }

    /// <summary>A start refused or a running stream failed: RUN cleared, ERR with the code (spec §9.3, §10).</summary>
    private void Refuse(StreamFault fault, bool stopped)
    {
        var code = fault.Code;
        _registers.ClearBits(AudioSdRegister.Ctl, AudioSdFields.Ctl.Run);
        _registers.Set(AudioSdRegister.Sts,
            (_registers.Get(AudioSdRegister.Sts) & ~(AudioSdFields.Sts.Errcode | AudioSdFields.Sts.Running))
            | ((ulong)code << AudioSdFields.Sts.ErrcodeShift));
        StreamLog.Error(_host.Logger, Index, code, fault.What);
        if (AudioRules.Stream(code) is { } rule)
        {
            _host.Violation(rule, new ViolationDetails
            {
                What = stopped ? $"stream {Index} stopped while running: {fault.What}" : $"stream {Index} was refused at RUN: {fault.What}",
                Stream = Index,
                Register = fault.Register is { } reg ? _host.RegisterName(AudioSdBlock.Offset(Index, reg)) : null,
                RegisterOffset = fault.Register is { } r ? AudioSdBlock.Offset(Index, r) : null,
                Value = fault.Value,
                BadAddress = fault.BadAddress,
                Descriptor = fault.Descriptor,
                ErrorCode = AudioRules.ErrcodeText(code),
                Consequence = stopped ? "the stream stopped: RUN cleared, SD_STS.ERR set" : "the stream did not start: RUN cleared, SD_STS.ERR set",
                Cause = _runCause,
            });
        }

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

            StreamLog.Stopped(_host.Logger, Index, reason, _frames);
        }
    }

    /// <summary>The client left: a running stream ends with ERR/TRANSPORT (spec §7).</summary>
    internal void AbortLocked()
    {
        if (_state == State.Idle)
        {
            return;
        }

        StopLocked("client lost");
        _registers.ClearBits(AudioSdRegister.Ctl, AudioSdFields.Ctl.Run);
        _registers.Set(AudioSdRegister.Sts,
            (_registers.Get(AudioSdRegister.Sts) & ~AudioSdFields.Sts.Errcode)
            | AudioSdFields.Sts.Err | ((ulong)AudioDmaErr.Transport << AudioSdFields.Sts.ErrcodeShift));
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

            long next = _program!.NextIocFrame(_frames);
            return next == long.MaxValue ? long.MaxValue : Due(next);
        }
    }

    /// <summary>When the frame count reaches <paramref name="frame"/>: T0 + ⌈frame × 10⁹ / RATE⌉ (spec §11.1).</summary>
    private long Due(long frame)
    {
        int rate = _program!.Format.Rate;
        return _t0 + (long)((((Int128)frame * 1_000_000_000) + rate - 1) / rate);
    }

    private long FramesAt(long now) => now <= _t0 ? 0 : (long)((Int128)(now - _t0) * _program!.Format.Rate / 1_000_000_000);

    /// <summary>Moves every frame due by <paramref name="now"/> (spec §11). On the scheduler, no lock held on entry.</summary>
    public void Run(long now)
    {
        StreamProgram program;
        long generation, from;
        lock (_host.Sync)
        {
            if (_state != State.Running)
            {
                return;
            }

            program = _program!;
            generation = _generation;
            from = _frames;
        }

        long due = FramesAt(now);
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
            int n = (int)Math.Min(due - frame, MaxChunkFrames);
            var chunk = _scratch.AsSpan(0, n * format.FrameBytes);
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

        Commit(program, generation, from, due, lost > 0, now);
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
    private protected Span<byte> Scratch(int frames, AudioFormat format) => _scratch.AsSpan(0, frames * format.FrameBytes);

    private protected const int ChunkFrames = MaxChunkFrames;

    /// <summary>Held while the endpoint is used, so a stop (on another thread) never overlaps a transfer.</summary>
    private protected object EndpointGate => _endpointGate;

    /// <summary>Whether the run of <paramref name="generation"/> is still the current one (check under <see cref="EndpointGate"/>).</summary>
    private protected bool IsCurrent(long generation) => Volatile.Read(ref _generation) == generation;

    /// <summary>Publishes positions, then (after the position record) raises IOC/XRUN (spec §11.1–§11.4).</summary>
    private void Commit(StreamProgram program, long generation, long from, long to, bool xrun, long now)
    {
        long iocs, wraps;
        Span<byte> record = stackalloc byte[16];
        bool writeRecord;
        lock (_host.Sync)
        {
            if (_generation != generation)
            {
                return;
            }

            _frames = to;
            Statistics.FramesMoved += to - from;
            iocs = program.IocCrossings(from, to);
            wraps = (to / program.BufferFrames) - (from / program.BufferFrames);
            long wrapFrame = to / program.BufferFrames * program.BufferFrames;
            _registers.PublishPosition(program, to, iocs, wraps > 0 ? wrapFrame : -1, wraps > 0 ? Due(wrapFrame) : 0, record);
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
            Statistics.NoteIocLateness(now - Due(boundary));
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
