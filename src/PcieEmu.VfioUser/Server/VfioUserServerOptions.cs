namespace PcieEmu.VfioUser.Server;

/// <summary>Limits and behaviour of a vfio-user server. Defaults suit QEMU 11.1.</summary>
public sealed record VfioUserServerOptions
{
    /// <summary>Most fds we accept in one message (advertised as max_msg_fds; QEMU allows at most 16).</summary>
    public int MaxFdsPerMessage { get; init; } = 16;

    /// <summary>Largest REGION_READ/WRITE count we accept (advertised as max_data_xfer_size).</summary>
    public int MaxDataTransferSize { get; init; } = 1 << 20;

    /// <summary>Serve DMA to mappings without an fd with DMA_READ/DMA_WRITE messages to the client.</summary>
    public bool MessageDma { get; init; } = true;

    /// <summary>How long a server→client request waits for its reply.</summary>
    public TimeSpan ClientReplyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Advertise write_multiple (QEMU then coalesces posted writes into REGION_WRITE_MULTI).</summary>
    public bool AdvertiseWriteMultiple { get; init; }

    /// <summary>Accept a new client after one disconnects instead of ending.</summary>
    public bool Persist { get; init; }

    /// <summary>
    /// Least time between two "refused a client" warnings. Any same-user process can connect in a loop, so the
    /// refusals in between are only counted, and the next line (or the end of the session) reports how many.
    /// </summary>
    public TimeSpan RefusedClientLogInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The clock of the rate-limited logs (tests pass one that moves only when told).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// Send each small reply together with the receive of the next request in one system call (io_uring), when the
    /// kernel allows it; otherwise, or when false, a reply is one send and a receive one recvmsg.
    /// </summary>
    public bool BatchReplyWithReceive { get; init; } = true;

    /// <summary>Record the socket thread's allocations (diagnostics for the no-allocation-per-message rule).</summary>
    public bool TrackAllocations { get; init; }

    /// <summary>Largest message we buffer: header + region access head + the transfer limit.</summary>
    public int MaxMessageSize => MaxDataTransferSize + 64;
}
