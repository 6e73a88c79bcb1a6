using System.Globalization;
using System.Text;

namespace PcieEmu.Harness.Provisioning;

/// <summary>
/// Writes a newc ("070701") cpio archive, the format the kernel unpacks as an initramfs. Archives may follow one
/// another in one initrd: the kernel unpacks each in turn, later files replacing earlier ones, and skips zero
/// padding between them as long as every archive starts on a 4-byte boundary.
/// </summary>
internal sealed class NewcArchive(Stream output)
{
    private const string Magic = "070701";
    private const int HeaderSize = 110;
    private uint _inode = 0x5043_0000; // "PC": far above the small numbers busybox gives the base archive

    /// <summary>Zero bytes that bring <paramref name="length"/> to the next multiple of 4.</summary>
    public static int PaddingAfter(long length) => (int)((4 - (length & 3)) & 3);

    public void AddDirectory(string path, DateTime modifiedUtc, UnixFileMode mode = (UnixFileMode)0x1ED /* 0755 */) =>
        Write(path, 0x4000 | (uint)mode, nlink: 2, ReadOnlySpan<byte>.Empty, modifiedUtc);

    public void AddFile(string path, ReadOnlySpan<byte> contents, DateTime modifiedUtc, UnixFileMode mode = (UnixFileMode)0x1A4 /* 0644 */) =>
        Write(path, 0x8000 | (uint)mode, nlink: 1, contents, modifiedUtc);

    /// <summary>Writes the trailer; the archive's length is then a multiple of 4.</summary>
    public void Finish() => Write("TRAILER!!!", 0, nlink: 1, ReadOnlySpan<byte>.Empty, DateTime.UnixEpoch, inode: 0);

    private void Write(string path, uint mode, uint nlink, ReadOnlySpan<byte> contents, DateTime modifiedUtc, uint? inode = null)
    {
        uint mtime = (uint)Math.Clamp((modifiedUtc - DateTime.UnixEpoch).TotalSeconds, 0, uint.MaxValue);
        if (path.StartsWith('/') || path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"an archive path is relative and has no NUL: '{path}'", nameof(path));
        }

        byte[] name = Encoding.UTF8.GetBytes(path + "\0");
        var header = new StringBuilder(HeaderSize).Append(Magic);
        foreach (uint field in new uint[]
                 {
                     inode ?? _inode++, mode, 0 /* uid */, 0 /* gid */, nlink, mtime, (uint)contents.Length,
                     0, 0, 0, 0 /* dev and rdev major/minor */, (uint)name.Length, 0 /* check */,
                 })
        {
            header.Append(field.ToString("X8", CultureInfo.InvariantCulture));
        }

        output.Write(Encoding.ASCII.GetBytes(header.ToString()));
        output.Write(name);
        output.Write(new byte[PaddingAfter(HeaderSize + name.Length)]);
        output.Write(contents);
        output.Write(new byte[PaddingAfter(contents.Length)]);
    }
}
