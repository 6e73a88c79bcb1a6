using System.Text;

namespace PcieEmu.Interop;

/// <summary>
/// Reads a whole file that must be a regular file of bounded size (model files, ROM images). The type is checked
/// before the open, so a FIFO cannot block us in open(2) and /dev/zero is refused rather than read until memory
/// runs out; the read itself also stops one byte past the limit, so neither a file that grows meanwhile nor one
/// whose reported size is wrong (/proc) can exceed it.
/// </summary>
public static class RegularFile
{
    /// <summary>
    /// The whole content of <paramref name="path"/>. Throws <see cref="FileNotFoundException"/> when nothing is there,
    /// and <see cref="IOException"/> when it is not a regular file (symbolic links are followed) or holds more than
    /// <paramref name="maxBytes"/>; the messages name the path.
    /// </summary>
    /// <param name="path">The file to read.</param>
    /// <param name="maxBytes">The most bytes accepted; must be positive (<see cref="ArgumentOutOfRangeException"/>).</param>
    /// <param name="what">What the file is, for the message when it is too large ("a model file").</param>
    public static byte[] ReadAllBytes(string path, int maxBytes, string what = "this file")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        var status = FileStatus.Of(path) ?? throw new FileNotFoundException($"{path} does not exist", path);
        if (status.Kind != FileKind.Regular)
        {
            throw new IOException($"{path} is {FileStatus.Describe(status.Kind)}, not a regular file");
        }

        if (status.Size > (ulong)maxBytes)
        {
            throw TooLarge(path, maxBytes, what);
        }

        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var buffer = new byte[Math.Min((long)maxBytes + 1, Math.Max((long)status.Size + 1, 4096))];
        int total = 0;
        while (true)
        {
            if (total == buffer.Length)
            {
                if (total > maxBytes)
                {
                    throw TooLarge(path, maxBytes, what);
                }

                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, (long)maxBytes + 1));
            }

            int n = RandomAccess.Read(handle, buffer.AsSpan(total), total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total == buffer.Length ? buffer : buffer[..total];
    }

    /// <summary>
    /// As <see cref="ReadAllBytes"/> (same limit on bytes, same exceptions), decoded like
    /// <see cref="File.ReadAllText(string)"/>: UTF-8 unless a byte order mark says otherwise.
    /// </summary>
    public static string ReadAllText(string path, int maxBytes, string what = "this file")
    {
        using var reader = new StreamReader(new MemoryStream(ReadAllBytes(path, maxBytes, what)), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    /// <summary>A size for messages: whole MiB or KiB when it is a multiple of one ("1 MiB", "16 KiB"), else "1000 bytes".</summary>
    public static string FormatSize(long bytes) => bytes switch
    {
        >= 1 << 20 when bytes % (1 << 20) == 0 => $"{bytes >> 20} MiB",
        >= 1 << 10 when bytes % (1 << 10) == 0 => $"{bytes >> 10} KiB",
        _ => $"{bytes} bytes",
    };

    private static IOException TooLarge(string path, int maxBytes, string what) => new($"{path} is larger than {FormatSize(maxBytes)}, the limit for {what}");
}
