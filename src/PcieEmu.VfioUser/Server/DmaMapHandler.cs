using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;
using PcieEmu.Pci.Dma;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Transport;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// DMA_MAP and DMA_UNMAP of one session: validates each request, turns a map into a backing (a view of the
/// session's one mmap of the client's file, or messages to the client) in the function's <see cref="DmaController"/>,
/// and unmaps with VFIO type1 semantics. Runs only on the session thread; the controller and the shared file
/// mappings take their own leaf locks.
/// </summary>
internal sealed partial class DmaMapHandler
{
    private readonly DmaController _mappings;

    /// <summary>One mmap per guest-memory file for all of this session's DMA mappings (see the type).</summary>
    private readonly SharedFileMappings _memoryFiles = new();
    private readonly ClientRequests _requests;
    private readonly bool _messageDma;
    private readonly ILogger _logger;
    private readonly ILogger _clientLogger;

    /// <param name="mappings">The function's DMA table, which this session fills and empties.</param>
    /// <param name="requests">The session's server→client request channel, used by message-backed mappings.</param>
    /// <param name="messageDma">Maps without an fd reach guest memory through DMA_READ/WRITE messages to the
    /// client (<see cref="VfioUserServerOptions.MessageDma"/>); otherwise they are unreachable.</param>
    /// <param name="logger">The connection's log.</param>
    /// <param name="clientLogger">Where malformed or refused client requests are logged.</param>
    public DmaMapHandler(DmaController mappings, ClientRequests requests, bool messageDma, ILogger logger, ILogger clientLogger)
    {
        _mappings = mappings;
        _requests = requests;
        _messageDma = messageDma;
        _logger = logger;
        _clientLogger = clientLogger;
    }

    /// <summary>DMA_MAP: 0 or an errno. Takes the request's fd (if any) when it maps.</summary>
    public int Map(in MessageHeader h, ReadOnlySpan<byte> payload, ReceivedFds fds)
    {
        if (!DmaMapRequest.TryRead(payload, out var map) || map.Argsz < DmaMapRequest.Length)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B, need {DmaMapRequest.Length}");
            return Errno.EINVAL;
        }

        const uint known = VfioConstants.DmaMapFlagRead | VfioConstants.DmaMapFlagWrite;
        if ((map.Flags & ~known) != 0 || (map.Flags & known) == 0)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"flags 0x{map.Flags:x}");
            return Errno.EINVAL;
        }

        if (map.Size == 0 || map.Size - 1 > ulong.MaxValue - map.Address || map.Size - 1 > ulong.MaxValue - map.Offset)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"range [0x{map.Address:x}, +0x{map.Size:x}) offset 0x{map.Offset:x} wraps or is empty");
            return Errno.EINVAL;
        }

        if (fds.Count > 1)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"{fds.Count} fds (at most 1)");
            return Errno.EINVAL;
        }

        var access = ((map.Flags & VfioConstants.DmaMapFlagRead) != 0 ? DmaAccess.Read : DmaAccess.None)
                     | ((map.Flags & VfioConstants.DmaMapFlagWrite) != 0 ? DmaAccess.Write : DmaAccess.None);
        IDmaBacking backing;
        if (fds.Count == 1)
        {
            using var fd = fds.Take(0);

            // A shared mapping past the end of the file maps, but touching those pages raises SIGBUS and kills the
            // process: refuse ranges beyond the fd's size (seekable fds: memfds and files, all QEMU sends).
            // One statx answers both this check and which shared mapping the pages belong to (SharedFileMappings).
            FileStatus status;
            try
            {
                status = FileStatus.OfDescriptor(fd);
            }
            catch (IOException e)
            {
                LogMapFailed(_logger, map.Address, map.Size, e.Message);
                return Errno.EINVAL;
            }

            if (TryGetLength(fd, status, out ulong fileLength) && (map.Offset > fileLength || map.Size > fileLength - map.Offset))
            {
                ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"[offset 0x{map.Offset:x}, +0x{map.Size:x}) runs past the end of its fd (0x{fileLength:x} B)");
                return Errno.EINVAL;
            }

            // Even within the size checked above, the client may shrink the file later (ftruncate) and a device access
            // to a page past the new end would raise SIGBUS. QEMU seals its memfd RAM (F_SEAL_SHRINK): plain copies.
            // Anything else (file-backed RAM, an unsealed memfd, another client) gets fault-checked copies.
            bool faultChecked = !MemFd.IsShrinkSealed(fd);
            try
            {
                // The mapping keeps the memory; the fd itself is closed right after (as libvfio-user does).
                backing = _memoryFiles.Map(fd, status, map.Offset, map.Size, writable: (access & DmaAccess.Write) != 0, faultChecked);
            }
            catch (Exception e) when (e is IOException or ArgumentOutOfRangeException)
            {
                LogMapFailed(_logger, map.Address, map.Size, e.Message);
                return Errno.EINVAL;
            }
        }
        else
        {
#pragma warning disable CA2000 // DmaController.Map below owns the backing from the call on, also when it refuses it
            backing = _messageDma ? new MessageDmaBacking(_requests, map.Address) : new UnreachableDmaBacking();
#pragma warning restore CA2000
        }

        int errno = _mappings.Map(map.Address, map.Size, access, backing);
        if (errno == 0)
        {
            LogMapped(_logger, map.Address, map.Size, access, backing.Kind);
        }

        return errno;
    }

    /// <summary>The fd's size: from the statx already made for a regular file (memfds, all QEMU sends), else asked.</summary>
    private static bool TryGetLength(SafeFileHandle fd, FileStatus status, out ulong length)
    {
        length = status.Size;
        if (status.Kind == FileKind.Regular)
        {
            return true;
        }

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

    /// <summary>DMA_UNMAP: 0 (the request echoed into <paramref name="reply"/>) or an errno.</summary>
    public int Unmap(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!DmaUnmapRequest.TryRead(payload, out var unmap) || unmap.Argsz < DmaUnmapRequest.Length)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B, need {DmaUnmapRequest.Length}");
            return Errno.EINVAL;
        }

        if ((unmap.Flags & VfioConstants.DmaUnmapFlagGetDirtyBitmap) != 0)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, "dirty bitmaps are not supported");
            return Errno.ENOTSUP;
        }

        if ((unmap.Flags & ~VfioConstants.DmaUnmapFlagAll) != 0)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"flags 0x{unmap.Flags:x}");
            return Errno.EINVAL;
        }

        int errno;
        if ((unmap.Flags & VfioConstants.DmaUnmapFlagAll) != 0)
        {
            if (unmap.Address != 0 || unmap.Size != 0)
            {
                ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, "unmap-all with a non-zero range");
                return Errno.EINVAL;
            }

            _mappings.UnmapAll();
            errno = 0;
        }
        else
        {
            // VFIO type1 semantics (what QEMU's client relies on with a vIOMMU): every mapping inside the range goes,
            // several or none; a range that cuts through a mapping is EINVAL and removes nothing (DmaController).
            errno = _mappings.Unmap(unmap.Address, unmap.Size, out ulong unmapped);
            if (errno != 0)
            {
                ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"[0x{unmap.Address:x}, +0x{unmap.Size:x}) cuts through a mapping");
                return errno;
            }

            LogUnmapped(_logger, unmap.Address, unmap.Size, unmapped);
        }

        (unmap with { Argsz = DmaUnmapRequest.Length }).WriteTo(reply);
        replyLength = DmaUnmapRequest.Length;
        return 0;
    }

    /// <summary>The client left: every mapping goes (after in-flight transfers drain). Returns how many there were.</summary>
    public int UnmapAll()
    {
        int maps = _mappings.Count;
        _mappings.UnmapAll();
        return maps;
    }

    // Event ids 1010–1019 of the connection's range (1000–1099: session lifecycle and normal traffic).
    [LoggerMessage(EventId = 1010, Level = LogLevel.Debug, Message = "DMA_MAP [0x{Iova:x}, +0x{Size:x}) {Access} via {Backing}")]
    private static partial void LogMapped(ILogger logger, ulong iova, ulong size, DmaAccess access, string backing);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Debug, Message = "DMA_UNMAP [0x{Iova:x}, +0x{Size:x}): {Unmapped} B of mappings removed")]
    private static partial void LogUnmapped(ILogger logger, ulong iova, ulong size, ulong unmapped);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Error, Message = "DMA_MAP [0x{Iova:x}, +0x{Size:x}): mmap of the client's fd failed: {Reason}")]
    private static partial void LogMapFailed(ILogger logger, ulong iova, ulong size, string reason);
}
