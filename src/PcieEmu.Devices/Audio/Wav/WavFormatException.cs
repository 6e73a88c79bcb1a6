namespace PcieEmu.Devices.Audio.Wav;

/// <summary>A WAV file that is malformed, truncated, or in an encoding the card's routes cannot use.</summary>
internal sealed class WavFormatException : Exception
{
    public WavFormatException()
    {
    }

    public WavFormatException(string message)
        : base(message)
    {
    }

    public WavFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
