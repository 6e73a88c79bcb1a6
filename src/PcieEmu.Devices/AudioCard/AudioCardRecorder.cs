using PcieEmu.Devices.Common;
using PcieEmu.Pci.Observation;

namespace PcieEmu.Devices.AudioCard;

/// <summary>
/// The audio card's part of a trace: the record kinds only this card has (<see cref="SinkData"/>), written into
/// the function's observation when the card hands samples to the host.
/// </summary>
internal sealed class AudioCardRecorder(FunctionObservation observation) : IAudioCardObserver
{
    /// <summary>
    /// Samples a playback stream handed to its host-side sink: A = stream, B = bytes, C = their hash (FNV-1a 64 basis
    /// and prime over 8-byte LE words, then the tail bytes). A trace keeps the hash, not the samples.
    /// </summary>
    public static readonly DeviceRecordKind SinkData = new((TraceEventKind)65, "SinkData", TraceFields.A | TraceFields.B | TraceFields.C);

    /// <summary>Every kind the audio card writes (with the common ones).</summary>
    public static IReadOnlyList<DeviceRecordKind> Kinds { get; } = [.. CommonRecordKinds.All, SinkData];

    public void SamplesDelivered(int stream, ReadOnlySpan<byte> frames) =>
        observation.Note(SinkData.Record((ulong)stream, (ulong)frames.Length, Fnv1a64.Hash(frames)));
}
