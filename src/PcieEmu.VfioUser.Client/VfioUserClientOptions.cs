using Microsoft.Extensions.Logging;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Client;

/// <summary>How a <see cref="VfioUserClient"/> talks to a server. Defaults reproduce QEMU 11.1's vfio-user-pci.</summary>
public sealed record VfioUserClientOptions
{
    /// <summary>
    /// The capabilities JSON QEMU 11.1 sends in VERSION (193 characters; with major, minor and the NUL the
    /// request is 214 bytes). See qemu-vfio-user-client.md §3.
    /// </summary>
    public const string QemuVersionJson =
        "{\"capabilities\": {\"pgsizes\": 4096, \"max_msg_fds\": 16, \"max_dma_maps\": 65535, \"max_data_xfer_size\": 1048576, "
        + "\"migration\": {\"max_bitmap_size\": 268435456, \"pgsize\": 4096}, \"write_multiple\": true}}";

    /// <summary>How long any wait for a server message may take before the client gives up (QEMU: x-msg-timeout, 5 s).</summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The protocol major version proposed in VERSION (QEMU 11.1: 0).</summary>
    public ushort Major { get; init; }

    /// <summary>The minor version proposed; the server answers with this or a lower one (QEMU 11.1: 0).</summary>
    public ushort Minor { get; init; }

    /// <summary>
    /// The JSON sent in VERSION (null: none). The client also obeys what it declares here: its
    /// <c>max_data_xfer_size</c> bounds the server→client requests it accepts, <c>max_msg_fds</c> the fds it can receive.
    /// </summary>
    public string? VersionJson { get; init; } = QemuVersionJson;

    /// <summary>Apply QEMU's checks to the server's answers (VERSION capability limits, DEVICE_GET_INFO limits).</summary>
    public bool QemuStrict { get; init; } = true;

    /// <summary>How the client answers the server's DMA_WRITE: QEMU's bare header (default) or the spec's echo.</summary>
    public DmaWriteReply DmaWriteReply { get; init; } = DmaWriteReply.BareHeader;

    /// <summary>Memory that server→client DMA_READ/DMA_WRITE reach. Null: such requests are refused with ENODEV.</summary>
    public IGuestMemory? GuestMemory { get; init; }

    /// <summary>Answer server→client requests that arrive while a reply is awaited (as QEMU's main loop does).</summary>
    public bool ServeServerRequestsWhileWaiting { get; init; } = true;

    /// <summary>Where the client logs what it tolerated or refused (null: nothing is logged).</summary>
    public ILogger? Logger { get; init; }
}
