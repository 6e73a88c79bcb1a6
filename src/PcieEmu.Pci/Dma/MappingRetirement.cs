using Microsoft.Extensions.Logging;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// The second half of an unmap, after the mappings left the table: waiting for the transfers that may still use them
/// and freeing their memory, or keeping it, when a wait times out, until the transfer is done. A
/// <see cref="DmaController"/>'s own; Retire may be called from any thread (one at a time: it locks).
/// </summary>
internal sealed partial class MappingRetirement(ILogger logger, TimeSpan drainTimeout)
{
    /// <summary>Serializes retirements and guards the list of what a timed-out wait left.</summary>
    private readonly object _retireLock = new();
    private readonly List<(long GracePeriod, DmaRegion Region)> _undrained = [];
    private readonly ILogger _logger = logger;

    /// <summary>How long an unmap waits for transfers still using its mappings before it goes on without freeing them.</summary>
    private readonly TimeSpan _drainTimeout = drainTimeout;

    /// <summary>
    /// Frees mappings already out of the table and marked retired: fails what waits on the client, waits for the
    /// transfers still using them (a grace period, and per-mapping users), then unpins and disposes their memory.
    /// Memory a transfer may still touch after a timed-out wait is never freed under it: it is kept until a later
    /// retirement finds that grace period over.
    /// </summary>
    public void Retire(IReadOnlyList<DmaRegion> victims)
    {
        foreach (var r in victims)
        {
            r.Backing.Revoke();
        }

        lock (_retireLock)
        {
            if (victims.Count == 0 && _undrained.Count == 0)
            {
                return;
            }

            var (period, ended) = TransferEpochs.WaitForReaders(_drainTimeout);
            foreach (var r in victims)
            {
                if (ended && r.DrainUsers(_drainTimeout))
                {
                    r.ReleaseMemory();
                }
                else
                {
                    LogDrainTimeout(_logger, r.Iova, r.Size);
                    _undrained.Add((period, r));
                }
            }

            ReleaseUndrained();
        }
    }

    /// <summary>Frees what earlier timed-out waits kept, once their grace period is over. Under the retire lock.</summary>
    private void ReleaseUndrained()
    {
        for (int i = _undrained.Count - 1; i >= 0; i--)
        {
            var (period, r) = _undrained[i];
            if (TransferEpochs.HasEnded(period) && r.DrainUsers(TimeSpan.Zero))
            {
                r.ReleaseMemory();
                _undrained.RemoveAt(i);
            }
        }
    }

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "Unmap of [0x{Iova:x}, +0x{Size:x}) timed out waiting for in-flight DMA: unmapped, its memory kept until that transfer is done")]
    private static partial void LogDrainTimeout(ILogger logger, ulong iova, ulong size);
}
