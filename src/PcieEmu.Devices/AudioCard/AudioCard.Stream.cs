using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.AudioCard.Streams;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Registers;
using PcieEmu.Pci.Tracing;

namespace PcieEmu.Devices.AudioCard;

public sealed partial class AudioCard
{
    /// <summary>
    /// One stream (spec §9–§12). Register side effects run under the function lock and only change state;
    /// moving samples (DMA, DSP, sink/source) happens in <see cref="Pump"/> on the engine thread, which takes the
    /// lock only to read and publish state — never around DMA. Each RUN starts a new generation: work of an
    /// older generation that finishes late is dropped.
    /// </summary>
    public sealed class AudioStream : StreamEngine.IPumped
    {
        /// <summary>Frames moved per DMA chunk at most (bounds the scratch buffer).</summary>
        private const int MaxChunkFrames = 2048;

        private readonly AudioCard _card;
        private readonly object _endpointGate = new();
        private ChannelGain[] _gains;
        private State _state;
        private long _generation;
        private StreamProgram? _program;
        private long _t0;
        private long _frames;
        private byte[] _scratch = [];

        internal AudioStream(AudioCard card, int index, StreamLayout layout, IPlaybackSink? sink, ICaptureSource? source, long keepSampleBytes)
        {
            _card = card;
            Recorder = new SampleRecorder(keepSampleBytes);
            Index = index;
            Layout = layout;
            Sink = sink;
            Source = source;
            Base = AudioSdBlock.Base + ((uint)index * AudioSdBlock.Stride);
            _gains = [.. Enumerable.Repeat(ChannelGain.Unity, AudioSdBlock.ChvolCount)];
        }

        private enum State
        {
            Idle,
            Starting,
            Running,
        }

        public int Index { get; }

        public StreamLayout Layout { get; }

        public bool IsCapture => Layout.Direction == StreamDirection.Capture;

        public uint Base { get; }

        public IPlaybackSink? Sink { get; }

        public ICaptureSource? Source { get; }

        /// <summary>The host-side record of what this stream transferred (spec §13).</summary>
        public IReadOnlyList<RecordedRun> Runs => Sink is MemorySink memory ? memory.Runs : Recorder.Runs;

        /// <summary>Records capture samples and playback samples whose sink does not keep them itself.</summary>
        internal SampleRecorder Recorder { get; }

        private bool RecordsItself => Sink is MemorySink;

        public StreamStatistics Statistics { get; } = new();

        public bool IsRunning => _state == State.Running;

        public int Vector => 1 + Index;

        private uint Reg(AudioSdRegister r) => Base + (uint)r;

        internal ulong Caps => (IsCapture ? 1UL : 0)
            | ((ulong)Layout.MaxChannels << AudioSdFields.Caps.MaxchShift)
            | ((ulong)Layout.Formats.Aggregate(0, (m, f) => SampleFormats.TryParseAlsaName(f, out var sf) ? m | (1 << (int)sf) : m) << AudioSdFields.Caps.FormatsShift)
            | ((ulong)Layout.Rates.Aggregate(0, (m, r) => m | (1 << SampleFormats.RateCode(r))) << AudioSdFields.Caps.RatesShift);

        // ------------------------------------------------------------------ register side effects (lock held)

        internal Dictionary<string, RegisterWriteHandler> WriteHandlers() => new()
        {
            ["StreamControl"] = Control,
            ["StreamStatusWritten"] = (in RegisterWrite _) => _card.UpdateIntx(),
            ["StreamProgrammed"] = Programmed,
            ["ChannelVolumeWritten"] = ChannelVolume,
        };

        /// <summary>Enabled causes pending (INTSTS.SIS, spec §9.4).</summary>
        internal bool InterruptPending
        {
            get
            {
                ulong sts = _card._registers.Get(Reg(AudioSdRegister.Sts));
                ulong ctl = _card._registers.Get(Reg(AudioSdRegister.Ctl));
                return (sts & EnabledCauses(ctl)) != 0;
            }
        }

        private static ulong EnabledCauses(ulong ctl) =>
            ((ctl & AudioSdFields.Ctl.Ioce) != 0 ? AudioSdFields.Sts.Ioc : 0)
            | ((ctl & AudioSdFields.Ctl.Erre) != 0 ? AudioSdFields.Sts.Xrun | AudioSdFields.Sts.Err : 0);

        private void Control(in RegisterWrite write)
        {
            if ((write.NewValue & AudioSdFields.Ctl.Srst) != 0)
            {
                StopLocked("SRST");
                ResetRegisters();
                _card.UpdateIntx();
                return;
            }

            // Newly enabled causes whose status is already set send one event (spec §5).
            ulong pending = EnabledCauses(write.NewValue) & ~EnabledCauses(write.OldValue) & _card._registers.Get(Reg(AudioSdRegister.Sts));
            for (ulong bit = 1; bit <= AudioSdFields.Sts.Err; bit <<= 1)
            {
                if ((pending & bit) != 0)
                {
                    _card.SendEvent(Vector);
                }
            }

            bool runNow = (write.NewValue & AudioSdFields.Ctl.Run) != 0;
            bool runBefore = (write.OldValue & AudioSdFields.Ctl.Run) != 0;
            if (runNow && !runBefore)
            {
                StartLocked();
            }
            else if (!runNow && runBefore)
            {
                StopLocked("RUN cleared");
            }

            _card.UpdateIntx();
        }

        private void Programmed(in RegisterWrite write)
        {
            if (_state != State.Idle)
            {
                _card._registers.Set(write.Register.Offset, write.OldValue);
                _card.Violations.Record("StreamReprogrammedWhileRunning", $"stream {Index}: {write.Register.Name} written while running");
            }
        }

        private void ChannelVolume(in RegisterWrite write)
        {
            ulong value = write.NewValue;
            ulong level = value & AudioSdFields.Chvol.Level;
            if (!IsCapture && level > ChannelGain.UnityLevel)
            {
                value = (value & ~AudioSdFields.Chvol.Level) | ChannelGain.UnityLevel; // playback attenuates only (spec §12)
                _card._registers.Set(write.Register.Offset, value);
            }

            int channel = (int)((write.Register.Offset - Reg(AudioSdRegister.Chvol)) / AudioSdBlock.ChvolStride);
            var gains = (ChannelGain[])_gains.Clone();
            gains[channel] = new ChannelGain((byte)(value & AudioSdFields.Chvol.Level), (value & AudioSdFields.Chvol.Mute) != 0);
            Volatile.Write(ref _gains, gains);
        }

        /// <summary>After a card-wide register reset: channel gains back to 0 dB.</summary>
        internal void ResetGains() => Volatile.Write(ref _gains, [.. Enumerable.Repeat(ChannelGain.Unity, AudioSdBlock.ChvolCount)]);

        private void ResetRegisters()
        {
            foreach (var r in _card._registers.Registers)
            {
                if (r.Offset >= Base && r.Offset < Base + AudioSdBlock.Stride)
                {
                    _card._registers.Set(r.Offset, r.ResetValue);
                }
            }

            ResetGains();
        }

        /// <summary>RUN 0→1 (spec §9.3): validate now if guest memory is local, else on the engine thread.</summary>
        private void StartLocked()
        {
            if (_state != State.Idle)
            {
                return;
            }

            _card._registers.ClearBits(Reg(AudioSdRegister.Sts), AudioSdFields.Sts.Errcode);
            var regs = Snapshot();
            var code = StreamProgram.TryBuild(regs, Layout, _card.Model.Dma, _card.Function.Dma, localOnly: true, out var program, out bool wouldBlock, out string detail);
            _generation++;
            if (wouldBlock || EndpointDoesIo)
            {
                _state = State.Starting;
                long generation = _generation;
                _card._engine.Post(() => FinishStart(regs, generation));
                return;
            }

            Apply(code, program, detail, code == AudioDmaErr.None ? StartEndpoint(program!.Format) : null);
        }

        private bool EndpointDoesIo => IsCapture ? Source!.DoesIo : Sink!.DoesIo;

        /// <summary>
        /// Engine thread, no function lock held: validation that needs message DMA, and endpoints that open or read
        /// files. A start the guest took back meanwhile (RUN cleared, reset) stops its endpoint again.
        /// </summary>
        private void FinishStart(StreamRegisters regs, long generation)
        {
            var code = StreamProgram.TryBuild(regs, Layout, _card.Model.Dma, _card.Function.Dma, localOnly: false, out var program, out _, out string detail);
            string? endpointError = code == AudioDmaErr.None ? StartEndpoint(program!.Format) : null;
            bool applied = false;
            lock (_card.Function.Sync)
            {
                if (_generation == generation && _state == State.Starting)
                {
                    _state = State.Idle;
                    Apply(code, program, detail, endpointError);
                    _card.UpdateIntx();
                    applied = true;
                }
            }

            if (!applied && code == AudioDmaErr.None && endpointError is null)
            {
                StopEndpoint();
            }
        }

        /// <summary>Starts the sink or source; null, or why the source cannot serve the format.</summary>
        private string? StartEndpoint(AudioFormat format)
        {
            lock (_endpointGate)
            {
                if (IsCapture)
                {
                    return Source!.Start(format);
                }

                Sink!.Start(format);
                return null;
            }
        }

        private void StopEndpoint()
        {
            lock (_endpointGate)
            {
                if (IsCapture)
                {
                    Source!.Stop();
                }
                else
                {
                    Sink!.Stop();
                }
            }
        }

        /// <param name="endpointError">What the endpoint said when it was started for this run (null: started).</param>
        private void Apply(AudioDmaErr code, StreamProgram? program, string detail, string? endpointError)
        {
            if (code == AudioDmaErr.None)
            {
                if (endpointError is not null)
                {
                    code = AudioDmaErr.Format;
                    detail = $"source {Source!.Description}: {endpointError}";
                }
                else if (!RecordsItself)
                {
                    lock (_endpointGate)
                    {
                        Recorder.BeginRun(program!.Format);
                    }
                }
            }

            if (code != AudioDmaErr.None)
            {
                Refuse(code, detail);
                return;
            }

            _program = program;
            _t0 = _card.Now;
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
                _card._registers.Set(Reg(r), 0);
            }

            _card._registers.SetBits(Reg(AudioSdRegister.Sts), AudioSdFields.Sts.Running);
            _state = State.Running;
            Statistics.Runs++;
            LogStreamStarted(_card._logger, Index, program.Format.ToString(), program.Segments.Length, program.BufferBytes, program.IocFrames.Length);
            _card._engine.Wake();
        }

        /// <summary>A start refused or a running stream failed: RUN cleared, ERR with the code (spec §9.3, §10).</summary>
        private void Refuse(AudioDmaErr code, string detail)
        {
            _card._registers.ClearBits(Reg(AudioSdRegister.Ctl), AudioSdFields.Ctl.Run);
            _card._registers.Set(Reg(AudioSdRegister.Sts),
                (_card._registers.Get(Reg(AudioSdRegister.Sts)) & ~(AudioSdFields.Sts.Errcode | AudioSdFields.Sts.Running))
                | ((ulong)code << AudioSdFields.Sts.ErrcodeShift));
            LogStreamError(_card._logger, Index, code, detail);
            if (code != AudioDmaErr.Transport)
            {
                _card.Violations.Record($"Stream{code}", $"stream {Index}: {detail}");
            }

            RaiseLocked(AudioSdFields.Sts.Err);
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
            _card._registers.ClearBits(Reg(AudioSdRegister.Sts), AudioSdFields.Sts.Running);
            if (wasRunning)
            {
                if (EndpointDoesIo)
                {
                    // Closing a file is I/O: not inside the guest's register write. Engine jobs run in order, so
                    // this stop comes before the endpoint's next start.
                    _card._engine.Post(StopEndpoint);
                }
                else
                {
                    StopEndpoint();
                }

                LogStreamStopped(_card._logger, Index, reason, _frames);
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
            _card._registers.ClearBits(Reg(AudioSdRegister.Ctl), AudioSdFields.Ctl.Run);
            _card._registers.Set(Reg(AudioSdRegister.Sts),
                (_card._registers.Get(Reg(AudioSdRegister.Sts)) & ~AudioSdFields.Sts.Errcode)
                | AudioSdFields.Sts.Err | ((ulong)AudioDmaErr.Transport << AudioSdFields.Sts.ErrcodeShift));
        }

        private void RaiseLocked(ulong cause)
        {
            _card._registers.SetBits(Reg(AudioSdRegister.Sts), cause);
            if ((EnabledCauses(_card._registers.Get(Reg(AudioSdRegister.Ctl))) & cause) != 0)
            {
                _card.SendEvent(Vector);
            }

            _card.UpdateIntx();
        }

        private StreamRegisters Snapshot() => new(
            (uint)_card._registers.Get(Reg(AudioSdRegister.Fmt)),
            _card._registers.Get(Reg(AudioSdRegister.Bdl)),
            (uint)_card._registers.Get(Reg(AudioSdRegister.Bdln)),
            (uint)_card._registers.Get(Reg(AudioSdRegister.Cbl)),
            _card._registers.Get(Reg(AudioSdRegister.Posbuf)));

        // ------------------------------------------------------------------ engine side

        /// <summary>Time of the next event this stream needs the engine for (its next IOC boundary), or long.MaxValue.</summary>
        long StreamEngine.IPumped.NextDeadline() => NextDeadline();

        internal long NextDeadline()
        {
            lock (_card.Function.Sync)
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

        /// <summary>Moves every frame due by <paramref name="now"/> (spec §11). Engine thread, no lock held on entry.</summary>
        void StreamEngine.IPumped.Pump(long now) => Pump(now);

        internal void Pump(long now)
        {
            StreamProgram program;
            long generation, from;
            ChannelGain[] gains;
            lock (_card.Function.Sync)
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

            _card.Function.Trace?.Note(new TraceRecord(TraceEventKind.StreamWork, a: (ulong)Index));
            gains = Volatile.Read(ref _gains);
            long todo = due - from;
            long lost = Math.Max(0, todo - program.BufferFrames);
            var format = program.Format;
            long frame = from;
            if (lost > 0)
            {
                // More than a buffer behind (spec §11.4): the oldest frames are gone.
                if (!IsCapture)
                {
                    _scratch.AsSpan(0, (int)Math.Min(lost, MaxChunkFrames) * format.FrameBytes).Clear();
                    for (long left = lost; left > 0;)
                    {
                        int n = (int)Math.Min(left, MaxChunkFrames);
                        if (!Deliver(generation, _scratch.AsSpan(0, n * format.FrameBytes)))
                        {
                            return;
                        }

                        left -= n;
                    }
                }

                frame += lost;
                Statistics.LostFrames += lost;
            }

            while (frame < due)
            {
                int n = (int)Math.Min(due - frame, MaxChunkFrames);
                var chunk = _scratch.AsSpan(0, n * format.FrameBytes);
                long offset = frame % program.BufferFrames * format.FrameBytes;
                DmaResult r;
                if (IsCapture)
                {
                    lock (_endpointGate)
                    {
                        if (Volatile.Read(ref _generation) != generation)
                        {
                            return;
                        }

                        Source!.Read(chunk, frame);
                        GainStage.Apply(chunk, format.Format, format.Channels, gains);
                        Recorder.Append(chunk);
                    }

                    r = program.WriteBuffer(_card.Function.Dma, offset, chunk);
                }
                else
                {
                    r = program.ReadBuffer(_card.Function.Dma, offset, chunk);
                    if (r == DmaResult.Ok)
                    {
                        GainStage.Apply(chunk, format.Format, format.Channels, gains);
                        if (!Deliver(generation, chunk))
                        {
                            return;
                        }
                    }
                }

                if (r != DmaResult.Ok)
                {
                    Fail(generation, AudioDmaErrors.Of(r), $"buffer DMA at frame {frame}: {r}");
                    return;
                }

                frame += n;
            }

            Commit(program, generation, from, due, lost > 0, now);
        }

        private bool Deliver(long generation, ReadOnlySpan<byte> frames)
        {
            lock (_endpointGate)
            {
                if (Volatile.Read(ref _generation) != generation)
                {
                    return false;
                }

                Sink!.Write(frames);
                _card.Function.Trace?.Note(new TraceRecord(TraceEventKind.SinkData, a: (ulong)Index, b: (ulong)frames.Length, c: Fnv1a64.Hash(frames)));
                if (!RecordsItself)
                {
                    Recorder.Append(frames);
                }

                return true;
            }
        }

        /// <summary>Publishes positions, then (after the position record) raises IOC/XRUN (spec §11.1–§11.4).</summary>
        private void Commit(StreamProgram program, long generation, long from, long to, bool xrun, long now)
        {
            long iocs, wraps;
            Span<byte> record = stackalloc byte[16];
            bool writeRecord;
            lock (_card.Function.Sync)
            {
                if (_generation != generation)
                {
                    return;
                }

                _frames = to;
                Statistics.FramesMoved += to - from;
                var regs = _card._registers;
                long bytes = to * program.Format.FrameBytes;
                regs.Set(Reg(AudioSdRegister.Frames), (ulong)to);
                regs.Set(Reg(AudioSdRegister.Lpib), (ulong)(bytes % program.BufferBytes));
                iocs = program.IocCrossings(from, to);
                wraps = (to / program.BufferFrames) - (from / program.BufferFrames);
                if (iocs > 0)
                {
                    regs.Set(Reg(AudioSdRegister.Bcnt), (regs.Get(Reg(AudioSdRegister.Bcnt)) + (ulong)iocs) & 0xFFFF_FFFF);
                }

                if (wraps > 0)
                {
                    long wrapFrame = to / program.BufferFrames * program.BufferFrames;
                    regs.Set(Reg(AudioSdRegister.ZtsFrames), (ulong)wrapFrame);
                    regs.Set(Reg(AudioSdRegister.ZtsTime), (ulong)Due(wrapFrame));
                }

                writeRecord = program.PosBufEnabled && (iocs > 0 || wraps > 0);
                BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)(bytes % program.BufferBytes));
                BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)regs.Get(Reg(AudioSdRegister.Bcnt)));
                BinaryPrimitives.WriteUInt64LittleEndian(record[8..], (ulong)to);
            }

            if (writeRecord)
            {
                var r = _card.Function.Dma.Write(program.PosBufAddress, record);
                if (r != DmaResult.Ok)
                {
                    Fail(generation, AudioDmaErrors.Of(r), $"position buffer at 0x{program.PosBufAddress:x}: {r}");
                    return;
                }
            }

            lock (_card.Function.Sync)
            {
                if (_generation != generation)
                {
                    return;
                }

                if (xrun)
                {
                    Statistics.Xruns++;
                    RaiseLocked(AudioSdFields.Sts.Xrun);
                }

                for (long i = 0; i < iocs; i++)
                {
                    RaiseLocked(AudioSdFields.Sts.Ioc);
                }
            }

            if (iocs > 0)
            {
                Statistics.Periods += iocs;
                long boundary = program.NextIocFrame(from);
                Statistics.NoteIocLateness(now - Due(boundary));
            }
        }

        private void Fail(long generation, AudioDmaErr code, string detail)
        {
            lock (_card.Function.Sync)
            {
                if (_generation != generation)
                {
                    return;
                }

                StopLocked($"error {code}");
                Refuse(code, detail);
            }
        }
    }

    [LoggerMessage(EventId = 3200, Level = LogLevel.Information, Message = "Stream {Stream} started: {Format}, {Segments} descriptor(s), {Bytes} B buffer, {Periods} IOC boundary(ies)")]
    private static partial void LogStreamStarted(ILogger logger, int stream, string format, int segments, uint bytes, int periods);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "Stream {Stream} stopped ({Reason}) after {Frames} frames")]
    private static partial void LogStreamStopped(ILogger logger, int stream, string reason, long frames);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Warning, Message = "Stream {Stream} error {Code}: {Detail}")]
    private static partial void LogStreamError(ILogger logger, int stream, AudioDmaErr code, string detail);
}
