using System.Buffers.Binary;

namespace PcieEmu.Tracing.Format;

/// <summary>Constants and the varint coding of the trace file format (src/PcieEmu.Tracing/TRACE-FORMAT.md).</summary>
internal static class TraceFormat
{
    /// <summary>"PETRACE\n".</summary>
    public static ReadOnlySpan<byte> Magic => "PETRACE\n"u8;

    public const ushort Version = 2;

    /// <summary>Magic, version, flags, header length.</summary>
    public const int PreambleBytes = 16;

    public const int MaxHeaderBytes = 16 << 20;

    /// <summary>A writer closes a chunk once it holds this much (a single larger record gets a chunk of its own).</summary>
    public const int ChunkTargetBytes = 64 << 10;

    /// <summary>Readers refuse larger chunks: no record the device makes comes near (one DMA is at most a few MiB).</summary>
    public const int MaxChunkBytes = 64 << 20;

    public const int ChunkHeaderBytes = 8;

    /// <summary>Longest LEB128 encoding of a 64-bit value.</summary>
    public const int MaxVarintBytes = 10;

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; the bytes read.</summary>
    internal static int ReadUpTo(Stream stream, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer[total..]);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    public static int WriteVarint(Span<byte> destination, ulong value)
    {
        int n = 0;
        while (value >= 0x80)
        {
            destination[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[n++] = (byte)value;
        return n;
    }

    /// <summary>Decodes a varint at <paramref name="at"/>; false when the bytes end first or it is longer than 64 bits.</summary>
    public static bool TryReadVarint(ReadOnlySpan<byte> source, ref int at, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (at >= source.Length)
            {
                return false;
            }

            byte b = source[at++];
            if (shift == 63 && b > 1)
            {
                return false;
            }

            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return true;
            }
        }

        return false;
    }

    internal static void WritePreamble(Span<byte> destination, int headerLength)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[10..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(destination[12..], headerLength);
    }
}

/// <summary>
/// A trace file that cannot be read or replayed: what is wrong and where (the message starts with the file name).
/// Thrown by <see cref="TraceReader"/> and the tools built on it, and by a replay given a trace of another card.
/// </summary>
/// <param name="message">What is wrong and where.</param>
/// <param name="truncated">Whether the file simply stops; see <see cref="Truncated"/>.</param>
public sealed class TraceFormatException(string message, bool truncated = false) : Exception(message)
{
    /// <summary>The file simply stops (a recorder killed mid-session); everything before the cut was sound.</summary>
    public bool Truncated { get; } = truncated;
}
