#pragma warning disable CS8981 // C names kept on purpose: these mirror <linux/stat.h>.
using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

internal static partial class Libc
{
    // The constants live here rather than in Libc.cs: they belong to this one call.
    public const int AT_FDCWD = -100;

    /// <summary>With an empty path, statx examines dirfd itself (any fd, not only a directory).</summary>
    public const int AT_EMPTY_PATH = 0x1000;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;

    public const uint STATX_TYPE = 0x001;
    public const uint STATX_MODE = 0x002;
    public const uint STATX_INO = 0x100;
    public const uint STATX_SIZE = 0x200;

    public const ushort S_IFMT = 0xF000;
    public const ushort S_IFSOCK = 0xC000;
    public const ushort S_IFLNK = 0xA000;
    public const ushort S_IFREG = 0x8000;
    public const ushort S_IFBLK = 0x6000;
    public const ushort S_IFDIR = 0x4000;
    public const ushort S_IFCHR = 0x2000;
    public const ushort S_IFIFO = 0x1000;

    /// <summary>
    /// statx(2) (glibc ≥ 2.28). Chosen over stat/lstat because struct statx has one layout on every
    /// architecture, where struct stat differs between x86-64 and arm64.
    /// </summary>
    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int statx(int dirfd, string pathname, int flags, uint mask, statx* statxbuf);
}

/// <summary>struct statx_timestamp of &lt;linux/stat.h&gt; (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct statx_timestamp
{
    public long tv_sec;
    public uint tv_nsec;
    public int __reserved;
}

/// <summary>struct statx of &lt;linux/stat.h&gt; (256 bytes, the same on every architecture; the tail is reserved for growth).</summary>
[StructLayout(LayoutKind.Sequential, Size = 256)]
internal struct statx
{
    public uint stx_mask;
    public uint stx_blksize;
    public ulong stx_attributes;
    public uint stx_nlink;
    public uint stx_uid;
    public uint stx_gid;
    public ushort stx_mode;
    public ushort __spare0;
    public ulong stx_ino;
    public ulong stx_size;
    public ulong stx_blocks;
    public ulong stx_attributes_mask;
    public statx_timestamp stx_atime;
    public statx_timestamp stx_btime;
    public statx_timestamp stx_ctime;
    public statx_timestamp stx_mtime;
    public uint stx_rdev_major;
    public uint stx_rdev_minor;
    public uint stx_dev_major;
    public uint stx_dev_minor;
}
