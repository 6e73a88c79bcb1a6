using Microsoft.Extensions.Logging;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Observation;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// The device-facing DMA view of a function: the gates first (Bus Master Enable, no DMA into the function's own
/// BARs), then the IOVA table. One path for every transfer; when the function is observed, the transfer is also
/// told to the observer, and on replay the observer supplies its outcome instead of guest memory.
/// </summary>
internal sealed partial class FunctionDmaSpace(PciFunction function, ILogger logger) : IDmaSpace
{
    private int _observedNeedsSharedMemoryLogged;
    private bool _outsideD0Reported;

    public DmaResult Read(ulong address, Span<byte> destination) =>
        Transfer(address, destination, default, write: false, localOnly: false);

    public DmaResult Write(ulong address, ReadOnlySpan<byte> source) =>
        Transfer(address, default, source, write: true, localOnly: false);

    public DmaResult ReadLocal(ulong address, Span<byte> destination) =>
        Transfer(address, destination, default, write: false, localOnly: true);

    public DmaResult Check(ulong address, ulong length, DmaAccess access)
    {
        var gate = Gate(address, length, mayHoldLock: true);
        return gate != DmaResult.Ok ? gate : function.DmaMappings.Check(address, length, access);
    }

    public ulong? FirstFault(ulong address, ulong length, DmaAccess access)
    {
        if (length == 0)
        {
            return null;
        }

        if ((function.Config.Get16(PciConfigRegisters.Command) & (ushort)PciCommand.BusMaster) == 0 || function.PowerState != PowerState.D0)
        {
            return address;
        }

        var fault = function.DmaMappings.FirstFault(address, length, access);
        ulong reach = fault is { } f ? unchecked(f - address) : length; // bytes before the table's fault (0 wraps)
        if (reach > 0 && function.HitsOwnBar(address, reach))
        {
            // The first byte inside one of our BARs: the shortest prefix that hits one (hits grow with the prefix).
            ulong lo = 1;
            ulong hi = reach;
            while (lo < hi)
            {
                ulong mid = lo + ((hi - lo) / 2);
                if (function.HitsOwnBar(address, mid))
                {
                    hi = mid;
                }
                else
                {
                    lo = mid + 1;
                }
            }

            return address + (lo - 1);
        }

        return fault;
    }

    /// <summary>
    /// Every device DMA. <paramref name="localOnly"/>: the caller may hold the function lock, so memory only the
    /// client can reach (message DMA) answers <see cref="DmaResult.WouldBlock"/> instead of waiting. An observed
    /// transfer is always local-only (a unit cannot wait on the client); a message-DMA one then fails with
    /// <see cref="DmaResult.TransportError"/>, once logged.
    /// </summary>
    private DmaResult Transfer(ulong address, Span<byte> readInto, ReadOnlySpan<byte> writeFrom, bool write, bool localOnly)
    {
        var observation = function.Observation;
        int length = write ? writeFrom.Length : readInto.Length;
        var kind = write ? TraceEventKind.DmaWrite : TraceEventKind.DmaRead;
        if (observation is { Observer.SuppliesDma: true })
        {
            return observation.SupplyDma(new TraceRecord(kind, a: address, b: (ulong)length, data: writeFrom), readInto);
        }

        var r = Gate(address, (ulong)length, mayHoldLock: localOnly);
        if (r == DmaResult.Ok)
        {
            bool mustBeLocal = localOnly || observation is not null;
            var mappings = function.DmaMappings;
            r = write ? mappings.Write(address, writeFrom, mustBeLocal) : mappings.Read(address, readInto, mustBeLocal);
            if (r == DmaResult.WouldBlock && !localOnly)
            {
                r = DmaResult.TransportError;
                if (Interlocked.Exchange(ref _observedNeedsSharedMemoryLogged, 1) == 0)
                {
                    LogObservedNeedsSharedMemory(logger, function.Name, address);
                }
            }

            if (r != DmaResult.WouldBlock)
            {
                function.Statistics.NoteDma(r, length, write);
            }
        }

        if (observation is not null && r != DmaResult.WouldBlock)
        {
            observation.Note(new TraceRecord(kind, a: address, b: (ulong)length, c: (ulong)r, data: write ? writeFrom : r == DmaResult.Ok ? readInto : default));
        }

        return r;
    }

    private DmaResult Gate(ulong address, ulong length, bool mayHoldLock)
    {
        if (!mayHoldLock && Monitor.IsEntered(function.Sync))
        {
            throw new InvalidOperationException("DMA while holding the function lock: message DMA would deadlock against the bus thread");
        }

        if ((function.Config.Get16(PciConfigRegisters.Command) & (ushort)PciCommand.BusMaster) == 0)
        {
            function.Statistics.NoteDma(DmaResult.BusMasterDisabled, 0, false);
            return DmaResult.BusMasterDisabled;
        }

        if (function.PowerState != PowerState.D0)
        {
            function.Statistics.NoteDma(DmaResult.NotInD0, 0, false);
            NoteOutsideD0(address, length);
            return DmaResult.NotInD0;
        }

        _outsideD0Reported = false;

        if (function.HitsOwnBar(address, length))
        {
            function.Statistics.NoteDma(DmaResult.OwnBar, 0, false);
            return DmaResult.OwnBar;
        }

        return DmaResult.Ok;
    }

    /// <summary>
    /// The first refused DMA of each stay outside D0 is a violation (the rest are the same mistake: a stream left
    /// running keeps trying every period).
    /// </summary>
    private void NoteOutsideD0(ulong address, ulong length)
    {
        if (_outsideD0Reported)
        {
            return;
        }

        _outsideD0Reported = true;
        function.Checker.Report(Checking.FunctionRules.DmaOutsideD0, new Checking.ViolationDetails
        {
            What = $"the device was left with DMA to do ({length} B at 0x{address:x}) while the function is in {function.PowerState}; the transfer was refused",
            BadAddress = address,
        });
    }

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "{Function}: DMA at 0x{Address:x} needs message DMA, which an observed (recorded) function cannot wait for; recording needs guest RAM shared with the server (memfd), so this and later such DMA fail")]
    private static partial void LogObservedNeedsSharedMemory(ILogger logger, string function, ulong address);
}
