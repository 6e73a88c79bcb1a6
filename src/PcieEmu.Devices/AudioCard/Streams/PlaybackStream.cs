using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.AudioCard.Interrupts;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>A playback stream (spec §9): reads the guest's buffer by DMA and hands the frames, after its volume, to its sink.</summary>
internal sealed class PlaybackStream : AudioStream
{
    internal PlaybackStream(IStreamHost host, int index, StreamLayout layout, RegisterBank bank, CardInterrupts interrupts, IPlaybackSink sink, long keepSampleBytes)
        : base(host, index, layout, bank, interrupts, keepSampleBytes)
    {
        Sink = sink;
    }

    public IPlaybackSink Sink { get; }

    public override bool IsCapture => false;

    public override IReadOnlyList<RecordedRun> Runs => Sink is MemorySink memory ? memory.Runs : Recorder.Runs;

    private protected override bool EndpointDoesIo => Sink.DoesIo;

    private protected override bool EndpointRecords => Sink is MemorySink;

    private protected override string? StartEndpoint(AudioFormat format)
    {
        Sink.Start(format);
        return null;
    }

    private protected override void StopEndpoint() => Sink.Stop();

    private protected override bool MoveChunk(StreamProgram program, long generation, Span<byte> chunk, long bufferOffset, long frame,
        ChannelGain[] gains, out DmaResult result)
    {
        var format = program.Format;
        result = program.ReadBuffer(Host.Dma, bufferOffset, chunk);
        if (result != DmaResult.Ok)
        {
            return true;
        }

        GainStage.Apply(chunk, format.Format, format.Channels, gains);
        return Deliver(generation, chunk);
    }

    private protected override bool SkipLost(long generation, long lost, AudioFormat format)
    {
        // The sink still gets the lost frames, as silence: its timeline stays the stream's.
        var silence = Scratch((int)Math.Min(lost, ChunkFrames), format);
        silence.Clear();
        for (long left = lost; left > 0;)
        {
            int n = (int)Math.Min(left, ChunkFrames);
            if (!Deliver(generation, silence[..(n * format.FrameBytes)]))
            {
                return false;
            }

            left -= n;
        }

        return true;
    }

    private bool Deliver(long generation, ReadOnlySpan<byte> frames)
    {
        lock (EndpointGate)
        {
            if (!IsCurrent(generation))
            {
                return false;
            }

            Sink.Write(frames);
            Host.Observer?.SamplesDelivered(Index, frames);
            if (!EndpointRecords)
            {
                Recorder.Append(frames);
            }

            return true;
        }
    }
}
