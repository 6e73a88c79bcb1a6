using System.Buffers;
using PcieEmu.Devices.Audio;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>
/// A stream's buffer for one chunk of frames on their way between guest memory and the endpoint: at most
/// <see cref="MaxFrames"/> frames (which bounds it), rented from the shared pool and grown at a run's start when
/// its format needs more bytes per frame.
/// </summary>
internal sealed class ChunkScratch
{
    /// <summary>Frames moved per DMA chunk at most.</summary>
    public const int MaxFrames = 2048;

    private byte[] _buffer = [];

    /// <summary>Makes room for <see cref="MaxFrames"/> frames of <paramref name="format"/> (a run starts).</summary>
    public void EnsureFor(AudioFormat format)
    {
        int bytes = MaxFrames * format.FrameBytes;
        if (_buffer.Length < bytes)
        {
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
            }

            _buffer = ArrayPool<byte>.Shared.Rent(bytes);
        }
    }

    /// <summary>The first <paramref name="frames"/> frames of <paramref name="format"/>.</summary>
    public Span<byte> For(int frames, AudioFormat format) => _buffer.AsSpan(0, frames * format.FrameBytes);
}
