using System.Runtime.InteropServices;
using PcieEmu.Interop;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// One mmap per file behind a session's DMA mappings, shared by every mapping of that file. A vIOMMU guest maps and
/// unmaps its buffers page by page, each DMA_MAP carrying a new fd of the same guest-RAM file: an mmap and a munmap
/// per page (the munmap with a TLB shootdown on every CPU the server runs on) would cost more than all the table
/// work. Here a DMA_MAP costs one statx — the file is recognised by device and inode, which cannot be reused while our
/// mapping keeps the file alive — and the file's mapping is made when its first DMA mapping arrives and unmapped
/// when its last one goes.
/// <para>
/// Whether copies are fault-checked (<see cref="MemoryMapping"/>) and whether the mapping is writable are part of the
/// key; a file is mapped whole only within its size at the time, so a range past it (a file grown since) gets a
/// mapping of its own. Thread-safe; a backing it returns may be disposed on any thread.
/// </para>
/// </summary>
public sealed class SharedFileMappings
{
    private readonly object _lock = new();
    private readonly Dictionary<Key, SharedFile> _files = [];

    /// <summary>Files mapped now (each once, whatever number of DMA mappings use it).</summary>
    public int FileCount
    {
        get
        {
            lock (_lock)
            {
                return _files.Count;
            }
        }
    }

    /// <summary>
    /// A backing for [offset, offset+length) of the file behind <paramref name="fd"/>, which the caller keeps
    /// ownership of (it may close it at once: the mapping keeps the memory). Throws <see cref="IOException"/> when
    /// the file cannot be examined or mapped, <see cref="ArgumentOutOfRangeException"/> for a length the mapping
    /// cannot hold.
    /// </summary>
    public IDmaBacking Map(SafeHandle fd, ulong offset, ulong length, bool writable, bool faultChecked) =>
        Map(fd, FileStatus.OfDescriptor(fd), offset, length, writable, faultChecked);

    /// <summary>
    /// <see cref="Map(SafeHandle, ulong, ulong, bool, bool)"/> for a caller that has just examined the fd itself
    /// (<paramref name="status"/>, from <see cref="FileStatus.OfDescriptor"/>): one statx per DMA_MAP, not two.
    /// </summary>
    public IDmaBacking Map(SafeHandle fd, FileStatus status, ulong offset, ulong length, bool writable, bool faultChecked)
    {
        if (status.Kind != FileKind.Regular || status.Size == 0 || offset > status.Size || length > status.Size - offset)
        {
            // Not a plain file, or a range beyond its size: a mapping of exactly what was asked, as before sharing.
            return new MappedDmaBacking(MemoryMapping.Map(fd, offset, length, writable, faultChecked));
        }

        var key = new Key(status.DeviceMajor, status.DeviceMinor, status.Inode, writable, faultChecked);
        lock (_lock)
        {
            if (!_files.TryGetValue(key, out var file) || file.Mapping.Length < offset + length)
            {
                // First mapping of this file, or the file grew past the one we hold: map it whole as it is now. A
                // superseded entry lives on for the views that still use it and is unmapped with the last of them.
                MemoryMapping whole;
                try
                {
                    whole = MemoryMapping.Map(fd, 0, status.Size, writable, faultChecked);
                }
                catch (IOException)
                {
                    // No room for the whole file (a huge sparse one): just the range, as before sharing.
                    return new MappedDmaBacking(MemoryMapping.Map(fd, offset, length, writable, faultChecked));
                }

                file = new SharedFile(this, key, whole);
                _files[key] = file;
            }

            return file.View(offset, length);
        }
    }

    private readonly record struct Key(uint DeviceMajor, uint DeviceMinor, ulong Inode, bool Writable, bool FaultChecked);

    /// <summary>A file's mapping and the number of views on it; the last view's disposal unmaps it.</summary>
    private sealed class SharedFile(SharedFileMappings owner, Key key, MemoryMapping mapping)
    {
        private int _views;

        public Key Key { get; } = key;

        public MemoryMapping Mapping { get; } = mapping;

        /// <summary>Under the owner's lock.</summary>
        public FileView View(ulong offset, ulong length)
        {
            _views++;
            return new FileView(this, offset, length);
        }

        public void Release()
        {
            lock (owner._lock)
            {
                if (--_views != 0)
                {
                    return;
                }

                // Forgotten under the lock that hands out views: nobody can take a view of a mapping being unmapped.
                if (owner._files.TryGetValue(Key, out var current) && ReferenceEquals(current, this))
                {
                    owner._files.Remove(Key);
                }
            }

            Mapping.Dispose();
        }
    }

    /// <summary>One DMA mapping's part of a shared file mapping.</summary>
    private sealed class FileView(SharedFile file, ulong offset, ulong length) : IPinnableDmaBacking
    {
        private int _disposed;

        public string Kind => file.Mapping.FaultChecked ? "mmap-checked" : "mmap";

        public DmaResult Read(ulong at, Span<byte> destination) =>
            InView(at, (ulong)destination.Length) ? MappedDmaBacking.Result(file.Mapping.Read(offset + at, destination)) : DmaResult.InvalidRange;

        public DmaResult Write(ulong at, ReadOnlySpan<byte> source) =>
            InView(at, (ulong)source.Length) ? MappedDmaBacking.Result(file.Mapping.Write(offset + at, source)) : DmaResult.InvalidRange;

        bool IPinnableDmaBacking.TryPin(ulong pinLength, out nint address, out bool writable)
        {
            writable = file.Mapping.Writable;
            address = 0;
            if (pinLength > length || !file.Mapping.TryPin(out nint start))
            {
                return false;
            }

            address = start + (nint)offset;
            return true;
        }

        void IPinnableDmaBacking.Unpin() => file.Mapping.Unpin();

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                file.Release();
            }
        }

        private bool InView(ulong at, ulong count) => at <= length && count <= length - at;
    }
}
