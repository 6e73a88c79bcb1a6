using System.Text;

namespace PcieEmu.VfioUser.Transport;

/// <summary>
/// The length rule of a UNIX socket path: sun_path holds 108 bytes including the terminating NUL. Checked before
/// binding or connecting so that a long path is a one-line error, not .NET's ArgumentOutOfRangeException.
/// </summary>
public static class UnixSocketPath
{
    /// <summary>The longest path, in UTF-8 bytes, that fits sun_path with its NUL.</summary>
    public const int MaxBytes = 107;

    /// <summary>Throws an <see cref="IOException"/> (message without the path) when <paramref name="path"/> is too long.</summary>
    public static void ThrowIfTooLong(string path)
    {
        int length = Encoding.UTF8.GetByteCount(path);
        if (length > MaxBytes)
        {
            throw new IOException($"the path is {length} bytes long; a UNIX socket path may have at most {MaxBytes} (sun_path holds {MaxBytes + 1} bytes including the terminating NUL)");
        }
    }
}
