using System.Numerics;
using Microsoft.Extensions.Logging;
using PcieEmu.Interop;
using PcieEmu.Pci.Interrupts;
using PcieEmu.VfioUser.Protocol;
using PcieEmu.VfioUser.Transport;

namespace PcieEmu.VfioUser.Server;

/// <summary>
/// DEVICE_GET_IRQ_INFO and DEVICE_SET_IRQS of one session: validates each request and applies it to the client
/// side of the function's <see cref="InterruptController"/> (assign eventfds, disable, inject, mask/unmask).
/// Owns the INTx resample watcher, which exists only once the client hands over a resample fd. Runs on the
/// session thread; the controller takes the function lock itself.
/// </summary>
internal sealed partial class IrqSetHandler
{
    private const int IrqIndexCount = 5;

    private readonly InterruptController _interrupts;
    private readonly ILogger _logger;
    private readonly ILogger _clientLogger;
    private IntxResampleWatcher? _resampleWatcher;

    public IrqSetHandler(InterruptController interrupts, ILogger logger, ILogger clientLogger)
    {
        _interrupts = interrupts;
        _logger = logger;
        _clientLogger = clientLogger;
    }

    /// <summary>DEVICE_GET_IRQ_INFO: 0 (the info in <paramref name="reply"/>) or an errno.</summary>
    public int GetInfo(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!IrqInfo.TryRead(payload, out var request) || request.Argsz < IrqInfo.Length)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B / argsz too small");
            return Errno.EINVAL;
        }

        if (request.Index >= IrqIndexCount)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"IRQ index {request.Index}");
            return Errno.EINVAL;
        }

        var index = (IrqIndex)request.Index;
        uint flags = VfioConstants.IrqInfoEventfd | index switch
        {
            // As vfio-pci: INTx is maskable and auto-masked on trigger; MSI is set as a block.
            IrqIndex.Intx => VfioConstants.IrqInfoMaskable | VfioConstants.IrqInfoAutomasked,
            IrqIndex.Msi => VfioConstants.IrqInfoMaskable | VfioConstants.IrqInfoNoResize,
            IrqIndex.Msix => VfioConstants.IrqInfoMaskable,
            _ => 0u,
        };
        new IrqInfo(IrqInfo.Length, flags, request.Index, (uint)_interrupts.VectorCount(index)).WriteTo(reply);
        replyLength = IrqInfo.Length;
        return 0;
    }

    /// <summary>DEVICE_SET_IRQS: 0 or an errno. Takes the request's eventfds when it assigns them.</summary>
    public int Set(in MessageHeader h, ReadOnlySpan<byte> payload, ReceivedFds fds)
    {
        if (!IrqSet.TryRead(payload, out var set) || set.Argsz < IrqSet.Length)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B / argsz too small");
            return Errno.EINVAL;
        }

        if (BitOperations.PopCount(set.DataType) != 1 || BitOperations.PopCount(set.Action) != 1
            || (set.Flags & ~(VfioConstants.IrqSetDataTypeMask | VfioConstants.IrqSetActionTypeMask)) != 0)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"flags 0x{set.Flags:x} (need one data type and one action)");
            return Errno.EINVAL;
        }

        if (set.Index >= IrqIndexCount)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"IRQ index {set.Index}");
            return Errno.EINVAL;
        }

        var index = (IrqIndex)set.Index;
        var irqs = _interrupts;
        int vectors = irqs.VectorCount(index);
        bool isEventfd = set.DataType == VfioConstants.IrqSetDataEventfd;
        if (!isEventfd && fds.Count > 0)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, "fds without DATA_EVENTFD");
            return Errno.EINVAL;
        }

        if (set.Count == 0)
        {
            if (set.DataType == VfioConstants.IrqSetDataNone && set.Action == VfioConstants.IrqSetActionTrigger && set.Start == 0)
            {
                irqs.DisableAll(index);
                LogIrqsDisabled(_logger, index);
                return 0;
            }

            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, "count 0 is only valid as DATA_NONE|ACTION_TRIGGER from start 0");
            return Errno.EINVAL;
        }

        if ((ulong)set.Start + set.Count > (ulong)vectors)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"vectors [{set.Start}, +{set.Count}) beyond {vectors} of {index}");
            return Errno.EINVAL;
        }

        int start = (int)set.Start;
        int count = (int)set.Count;
        ReadOnlySpan<byte> bools = default;
        if (set.DataType == VfioConstants.IrqSetDataBool)
        {
            if (set.Argsz < IrqSet.Length + set.Count || payload.Length < IrqSet.Length + count)
            {
                ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"DATA_BOOL needs {count} data bytes");
                return Errno.EINVAL;
            }

            bools = payload.Slice(IrqSet.Length, count);
        }

        if (isEventfd && fds.Count != 0 && fds.Count != count)
        {
            ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"{fds.Count} fds for {count} vectors");
            return Errno.EINVAL;
        }

        switch (set.Action)
        {
            case VfioConstants.IrqSetActionTrigger when isEventfd:
                AssignSignals(index, start, count, fds);
                return 0;

            case VfioConstants.IrqSetActionTrigger:
                for (int i = 0; i < count; i++)
                {
                    if (bools.IsEmpty || bools[i] != 0)
                    {
                        irqs.Inject(index, start + i);
                    }
                }

                return 0;

            case VfioConstants.IrqSetActionUnmask when isEventfd:
                if (index != IrqIndex.Intx || count != 1)
                {
                    ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, $"UNMASK|EVENTFD is only meaningful for INTx (resample), got {index}");
                    return Errno.ENOTSUP;
                }

                _resampleWatcher ??= new IntxResampleWatcher(irqs, _logger);
                _resampleWatcher.SetFd(fds.Count == 1 ? fds.Take(0) : null);
                return 0;

            case VfioConstants.IrqSetActionMask when isEventfd:
                ClientMisbehaviourLog.Malformed(_clientLogger, h.Id, h.Command, "MASK|EVENTFD is not supported");
                return Errno.ENOTSUP;

            default:
                bool mask = set.Action == VfioConstants.IrqSetActionMask;
                if (bools.IsEmpty)
                {
                    irqs.SetMasked(index, start, count, mask);
                }
                else
                {
                    for (int i = 0; i < count; i++)
                    {
                        if (bools[i] != 0)
                        {
                            irqs.SetMasked(index, start + i, 1, mask);
                        }
                    }
                }

                return 0;
        }
    }

    private void AssignSignals(IrqIndex index, int start, int count, ReceivedFds fds)
    {
        var signals = new IInterruptSignal?[count];
        for (int i = 0; i < fds.Count; i++)
        {
            signals[i] = new EventFdSignal(fds.Take(i));
        }

        _interrupts.Assign(index, start, signals);
        LogIrqsAssigned(_logger, index, start, count, fds.Count == 0 ? "de-assigned" : "eventfds");
    }

    /// <summary>The client left: the resample watcher stops and every eventfd it gave is closed.</summary>
    public void ReleaseClientSignals()
    {
        _resampleWatcher?.Dispose();
        _resampleWatcher = null;
        _interrupts.ReleaseClientSignals();
    }

    // Event ids 1020–1029 of the connection's range (1000–1099: session lifecycle and normal traffic).
    [LoggerMessage(EventId = 1020, Level = LogLevel.Debug, Message = "SET_IRQS {Index}: disabled")]
    private static partial void LogIrqsDisabled(ILogger logger, IrqIndex index);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Debug, Message = "SET_IRQS {Index} [{Start}, +{Count}): {What}")]
    private static partial void LogIrqsAssigned(ILogger logger, IrqIndex index, int start, int count, string what);
}
