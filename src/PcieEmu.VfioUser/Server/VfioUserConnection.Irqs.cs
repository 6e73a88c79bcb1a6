using System.Numerics;
using PcieEmu.Interop;
using PcieEmu.Pci.Interrupts;
using PcieEmu.VfioUser.Protocol;

namespace PcieEmu.VfioUser.Server;

public sealed partial class VfioUserConnection
{
    private const int IrqIndexCount = 5;

    private int HandleGetIrqInfo(in MessageHeader h, ReadOnlySpan<byte> payload, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        if (!IrqInfo.TryRead(payload, out var request) || request.Argsz < IrqInfo.Length)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B / argsz too small");
            return Errno.EINVAL;
        }

        if (request.Index >= IrqIndexCount)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"IRQ index {request.Index}");
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
        new IrqInfo(IrqInfo.Length, flags, request.Index, (uint)_function.Interrupts.VectorCount(index)).WriteTo(reply);
        replyLength = IrqInfo.Length;
        return 0;
    }

    private int HandleSetIrqs(in MessageHeader h, ReadOnlySpan<byte> payload)
    {
        if (!IrqSet.TryRead(payload, out var set) || set.Argsz < IrqSet.Length)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"payload {payload.Length} B / argsz too small");
            return Errno.EINVAL;
        }

        if (BitOperations.PopCount(set.DataType) != 1 || BitOperations.PopCount(set.Action) != 1
            || (set.Flags & ~(VfioConstants.IrqSetDataTypeMask | VfioConstants.IrqSetActionTypeMask)) != 0)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"flags 0x{set.Flags:x} (need one data type and one action)");
            return Errno.EINVAL;
        }

        if (set.Index >= IrqIndexCount)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"IRQ index {set.Index}");
            return Errno.EINVAL;
        }

        var index = (IrqIndex)set.Index;
        var irqs = _function.Interrupts;
        int vectors = irqs.VectorCount(index);
        bool isEventfd = set.DataType == VfioConstants.IrqSetDataEventfd;
        if (!isEventfd && _fds.Count > 0)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, "fds without DATA_EVENTFD");
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

            LogMalformed(_clientLogger, h.Id, h.Command, "count 0 is only valid as DATA_NONE|ACTION_TRIGGER from start 0");
            return Errno.EINVAL;
        }

        if ((ulong)set.Start + set.Count > (ulong)vectors)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"vectors [{set.Start}, +{set.Count}) beyond {vectors} of {index}");
            return Errno.EINVAL;
        }

        int start = (int)set.Start;
        int count = (int)set.Count;
        ReadOnlySpan<byte> bools = default;
        if (set.DataType == VfioConstants.IrqSetDataBool)
        {
            if (set.Argsz < IrqSet.Length + set.Count || payload.Length < IrqSet.Length + count)
            {
                LogMalformed(_clientLogger, h.Id, h.Command, $"DATA_BOOL needs {count} data bytes");
                return Errno.EINVAL;
            }

            bools = payload.Slice(IrqSet.Length, count);
        }

        if (isEventfd && _fds.Count != 0 && _fds.Count != count)
        {
            LogMalformed(_clientLogger, h.Id, h.Command, $"{_fds.Count} fds for {count} vectors");
            return Errno.EINVAL;
        }

        switch (set.Action)
        {
            case VfioConstants.IrqSetActionTrigger when isEventfd:
                AssignSignals(index, start, count);
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
                    LogMalformed(_clientLogger, h.Id, h.Command, $"UNMASK|EVENTFD is only meaningful for INTx (resample), got {index}");
                    return Errno.ENOTSUP;
                }

                _resampleWatcher ??= new IntxResampleWatcher(irqs, _logger);
                _resampleWatcher.SetFd(_fds.Count == 1 ? _fds.Take(0) : null);
                return 0;

            case VfioConstants.IrqSetActionMask when isEventfd:
                LogMalformed(_clientLogger, h.Id, h.Command, "MASK|EVENTFD is not supported");
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

    private void AssignSignals(IrqIndex index, int start, int count)
    {
        var signals = new IInterruptSignal?[count];
        for (int i = 0; i < _fds.Count; i++)
        {
            signals[i] = new EventFdSignal(_fds.Take(i));
        }

        _function.Interrupts.Assign(index, start, signals);
        LogIrqsAssigned(_logger, index, start, count, _fds.Count == 0 ? "de-assigned" : "eventfds");
    }
}
