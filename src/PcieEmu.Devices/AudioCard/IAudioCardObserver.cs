namespace PcieEmu.Devices.AudioCard;

/// <summary>
/// Watches what the card hands to the host side, for a trace recorder or replayer (<see cref="AudioCardRecorder"/>).
/// Called on the scheduler's thread, outside the function lock.
/// </summary>
internal interface IAudioCardObserver
{
    /// <summary>Playback stream <paramref name="stream"/> handed <paramref name="frames"/> to its sink.</summary>
    void SamplesDelivered(int stream, ReadOnlySpan<byte> frames);
}
