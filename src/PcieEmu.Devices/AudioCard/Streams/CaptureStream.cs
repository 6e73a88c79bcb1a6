using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;
using PcieEmu.Devices.Audio.Routing;
using PcieEmu.Devices.AudioCard.Interrupts;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>A capture stream (spec §9): reads frames from its source, applies its gain, and writes them into the guest's buffer by DMA.</summary>
internal sealed class CaptureStream : AudioStream
{
    internal CaptureStream(IStreamHost host, int index, StreamLayout layout, RegisterBank bank, CardInterrupts interrupts, ICaptureSource source, long keepSampleBytes)
        : base(host, index, layout, bank, interrupts, keepSampleBytes)
    {
        Source = source;
    }

    public ICaptureSource Source { get; }

    public override bool IsCapture => true;

    public override IReadOnlyList<RecordedRun> Runs => Recorder.Runs;

    private protected override bool EndpointDoesIo => Source.DoesIo;

    private protected override string? StartEndpoint(AudioFormat format) =>
        Source.Start(format) is { } error ? $"source {Source.Description}: {error}" : null;

    private protected override void StopEndpoint() => Source.Stop();

    private protected override bool MoveChunk(StreamProgram program, long generation, Span<byte> chunk, long bufferOffset, long frame,
        ChannelGain[] gains, out DmaResult result)
    {
        var format = program.Format;
        result = DmaResult.Ok;
        lock (EndpointGate)
        {
            if (!IsCurrent(generation))
            {
                return false;
            }

            Source.Read(chunk, frame);
            GainStage.Apply(chunk, format.Format, format.Channels, gains);
            Recorder.Append(chunk);
        }

        result = program.WriteBuffer(Host.Dma, bufferOffset, chunk);
        return true;
    }
}
