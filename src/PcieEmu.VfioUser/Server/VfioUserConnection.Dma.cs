using PcieEmu.Interop;
using PcieEmu.Pci.Dma;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

public sealed partial class VfioUserConnection
{
    /// <summary>One mmap per guest-memory file for all of this session's DMA mappings (see the type).</summary>
    private readonly SharedFileMappings _memoryFiles = new();

    private int HandleDmaMap(in MessageHeader h, ReadOnlySpan<byte> payload)
    {
        if (!DmaMapRequest.TryRead(payload, out var map) || map.Argsz < DmaMapRequest.Length)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B, need {DmaMapRequest.Length}");
            return Errno.EINVAL;
        }

        const uint known = VfioConstants.DmaMapFlagRead | VfioConstants.DmaMapFlagWrite;
        if ((map.Flags & ~known) != 0 || (map.Flags & known) == 0)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"flags 0x{map.Flags:x}");
            return Errno.EINVAL;
        }

        if (map.Size == 0 || map.Size - 1 > ulong.MaxValue - map.Address || map.Size - 1 > ulong.MaxValue - map.Offset)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"range [0x{map.Address:x}, +0x{map.Size:x}) offset 0x{map.Offset:x} wraps or is empty");
            return Errno.EINVAL;
        }

        if (_fds.Count > 1)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"{_fds.Count} fds (at most 1)");
            return Errno.EINVAL;
        }

        var access = ((map.Flags & VfioConstants.DmaMapFlagRead) != 0 ? DmaAccess.Read : DmaAccess.None)
                     | ((map.Flags & VfioConstants.DmaMapFlagWrite) != 0 ? DmaAccess.Write : DmaAccess.None);
        IDmaBacking backing;
        if (_fds.Count == 1)
        {
            using var fd = _fds.Take(0);

            // A shared mapping past the end of the file maps, but touching those pages raises SIGBUS and kills the
            // process: refuse ranges beyond the fd's size (seekable fds: memfds and files, all QEMU sends).
            if (TryGetLength(fd, out ulong fileLength) && (map.Offset > fileLength || map.Size > fileLength - map.Offset))
            {
                LogMalformed(_clientLogger, h.Id, h.Command, $"[offset 0x{map.Offset:x}, +0x{map.Size:x}) runs past the end of its fd (0x{fileLength:x} B)");
                return Errno.EINVAL;
            }

            // Even within the size checked above, the client may shrink the file later (ftruncate) and a device access
            // to a page past the new end would raise SIGBUS. QEMU seals its memfd RAM (F_SEAL_SHRINK): plain copies.
            // Anything else (file-backed RAM, an unsealed memfd, another client) gets fault-checked copies.
            bool faultChecked = !MemFd.IsShrinkSealed(fd);
            try
            {
                // The mapping keeps the memory; the fd itself is closed right after (as libvfio-user does).
                backing = _memoryFiles.Map(fd, map.Offset, map.Size, writable: (access & DmaAccess.Write) != 0, faultChecked);
            }
            catch (Exception e) when (e is IOException or ArgumentOutOfRangeException)
            {
                LogMapFailed(_logger, map.Address, map.Size, e.Message);
                return Errno.EINVAL;
            }
        }
        else
        {
            backing = _options.MessageDma ? new MessageDmaBacking(_requests, map.Address) : new UnreachableDmaBacking();
        }

        int errno = _function.DmaMappings.Map(map.Address, map.Size, access, backing);
        if (errno == 0)
        {
            LogMapped(_logger, map.Address, map.Size, access, backing.Kind);
        }

        return errno;
    }

    private static bool TryGetLength(Microsoft.Win32.SafeHandles.SafeFileHandle fd, out ulong length)
    {
        length = 0;
        try
        {
            length = (ulong)RandomAccess.GetLength(fd);
            return true;
        }
        catch (Exception e) when (e is IOException or NotSupportedException or UnauthorizedAccessException)
        {
            return false; // not a seekable file (mmap decides)
        }
    }

    private int HandleDmaUnmap(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!DmaUnmapRequest.TryRead(payload, out var unmap) || unmap.Argsz < DmaUnmapRequest.Length)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B, need {DmaUnmapRequest.Length}");
            return Errno.EINVAL;
        }

        if ((unmap.Flags & VfioConstants.DmaUnmapFlagGetDirtyBitmap) != 0)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, "dirty bitmaps are not supported");
            return Errno.ENOTSUP;
        }

        if ((unmap.Flags & ~VfioConstants.DmaUnmapFlagAll) != 0)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"flags 0x{unmap.Flags:x}");
            return Errno.EINVAL;
        }

        int errno;
        if ((unmap.Flags & VfioConstants.DmaUnmapFlagAll) != 0)
        {
            if (unmap.Address != 0 || unmap.Size != 0)
            {
                LogMalformed(_clientLogger, h.Id, h.Command, "unmap-all with a non-zero range");
                return Errno.EINVAL;
            }

            _function.DmaMappings.UnmapAll();
            errno = 0;
        }
        else
        {
            // VFIO type1 semantics (what QEMU's client relies on with a vIOMMU): every mapping inside the range goes,
            // several or none; a range that cuts through a mapping is EINVAL and removes nothing (DmaController).
            errno = _function.DmaMappings.Unmap(unmap.Address, unmap.Size, out ulong unmapped);
            if (errno != 0)
            {
                LogMalformed(_clientLogger, h.Id, h.Command, $"[0x{unmap.Address:x}, +0x{unmap.Size:x}) cuts through a mapping");
                return errno;
            }

            LogUnmapped(_logger, unmap.Address, unmap.Size, unmapped);
        }

        (unmap with { Argsz = DmaUnmapRequest.Length }).WriteTo(reply);
        replyLength = DmaUnmapRequest.Length;
        return 0;
    }
}
