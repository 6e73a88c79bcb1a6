using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PcieEmu.Devices.AudioCard.Interrupts;
using PcieEmu.Devices.Common;
using PcieEmu.Devices.Models;
using PcieEmu.Pci;
using PcieEmu.Pci.Checking;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard;

/// <summary>
/// The diagnostic DMA engine (spec §6.2): armed by a DIAG_DMA_CTL write (under the function lock, O(1)), run as
/// a job on the card's scheduler without the lock, its result published under the lock with DMA_DONE or DMA_ERR.
/// </summary>
internal sealed partial class DiagnosticDmaEngine(PciFunction function, RegisterBank registers, CauseRegister causes,
    DmaConstraints constraints, ILogger logger)
{
    private const int ChunkBytes = 4096;
    private long _generation;
    private bool _busy;
    private long _transfers;

    /// <summary>A transfer is running (read under the function lock).</summary>
    public bool IsBusy => _busy;

    /// <summary>Transfers completed (successfully or not).</summary>
    public long Transfers => Interlocked.Read(ref _transfers);

    /// <summary>DIAG_DMA_CTL written (lock held).</summary>
    public void ControlWritten(in RegisterWrite write)
    {
        if (_busy)
        {
            // START reads 1 and DIR is frozen until the transfer ends; a write changes nothing.
            registers.Set((uint)AudioRegister.DiagDmaCtl, write.OldValue);
            if ((write.OnesWritten & AudioFields.DiagDmaCtl.Start) != 0)
            {
                function.Checker.Report(AudioRules.DiagDmaStartWhileBusy, new ViolationDetails
                {
                    What = "wrote DIAG_DMA_CTL.START while a diagnostic transfer was running; the write was ignored",
                    Register = "DIAG_DMA_CTL",
                    RegisterOffset = (uint)AudioRegister.DiagDmaCtl,
                    Value = write.Written,
                });
            }

            return;
        }

        if ((write.NewValue & AudioFields.DiagDmaCtl.Start) == 0)
        {
            return;
        }

        var job = new Job(
            registers.Get((uint)AudioRegister.DiagDmaAddr),
            (uint)registers.Get((uint)AudioRegister.DiagDmaLen),
            (uint)registers.Get((uint)AudioRegister.DiagDmaSeed),
            (write.NewValue & AudioFields.DiagDmaCtl.Dir) != 0,
            _generation,
            function.Checker.CurrentAccess);
        registers.Set((uint)AudioRegister.DiagDmaSts, AudioFields.DiagDmaSts.Busy);
        _busy = true;
        LogStart(logger, job.Write ? "write" : "read", job.Address, job.Length);
        function.Scheduler.Post(() => Run(job));
    }

    /// <summary>Stops the engine: a running transfer moves no more bytes and its result is dropped. Lock held.</summary>
    public void Reset(string reason)
    {
        if (_busy)
        {
            LogAborted(logger, reason);
        }

        Interlocked.Increment(ref _generation);
        _busy = false;
    }

    /// <summary>The client left: a running transfer ends with ERR/TRANSPORT (spec §7). Lock held.</summary>
    public void AbortWithTransportError()
    {
        bool wasBusy = _busy;
        Reset("client lost");
        if (wasBusy)
        {
            registers.ClearBits((uint)AudioRegister.DiagDmaCtl, AudioFields.DiagDmaCtl.Start);
            registers.Set((uint)AudioRegister.DiagDmaSts, AudioFields.DiagDmaSts.Err | ((ulong)AudioDmaErr.Transport << AudioFields.DiagDmaSts.ErrcodeShift));
            registers.SetBits((uint)AudioRegister.Intsts, AudioFields.Intsts.DmaErr);
        }
    }

    private void Run(Job job)
    {
        var (code, hash) = Transfer(job);
        Interlocked.Increment(ref _transfers);
        if (code is not (AudioDmaErr.None or AudioDmaErr.Transport))
        {
            // Before the status is published: whoever sees ERR in DIAG_DMA_STS also finds the violation.
            Report(job, code);
        }

        lock (function.Sync)
        {
            if (job.Generation != _generation)
            {
                return; // reset while running: the result is void
            }

            _busy = false;
            registers.ClearBits((uint)AudioRegister.DiagDmaCtl, AudioFields.DiagDmaCtl.Start);
            if (code == AudioDmaErr.None)
            {
                registers.Set((uint)AudioRegister.DiagDmaSts, AudioFields.DiagDmaSts.Done);
                if (!job.Write)
                {
                    registers.Set((uint)AudioRegister.DiagDmaResult, hash);
                }

                causes.Raise(AudioFields.Intsts.DmaDone);
            }
            else
            {
                registers.Set((uint)AudioRegister.DiagDmaSts, AudioFields.DiagDmaSts.Err | ((ulong)code << AudioFields.DiagDmaSts.ErrcodeShift));
                causes.Raise(AudioFields.Intsts.DmaErr);
            }
        }

        LogDone(logger, code, hash);
    }

    /// <summary>Runs without the function lock. Constraint checks first (nothing moves), then the mapping check.</summary>
    private (AudioDmaErr Code, uint Hash) Transfer(Job job)
    {
        if (job.Length == 0 || job.Length > constraints.MaxSegmentBytes)
        {
            return (AudioDmaErr.Length, 0);
        }

        if ((job.Address & (constraints.Alignment - 1)) != 0)
        {
            return (AudioDmaErr.Align, 0);
        }

        if (job.Address > constraints.AddressLimit || job.Length - 1 > constraints.AddressLimit - job.Address)
        {
            return (AudioDmaErr.AddrBits, 0);
        }

        var check = function.Dma.Check(job.Address, job.Length, job.Write ? DmaAccess.Write : DmaAccess.Read);
        if (check != DmaResult.Ok)
        {
            return (AudioDmaErrors.Of(check), 0);
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            uint hash = Fnv1a.OffsetBasis;
            for (uint done = 0; done < job.Length; done += ChunkBytes)
            {
                if (Interlocked.Read(ref _generation) != job.Generation)
                {
                    return (AudioDmaErr.None, 0); // reset: stop moving bytes
                }

                int n = (int)Math.Min(ChunkBytes, job.Length - done);
                var span = buffer.AsSpan(0, n);
                DmaResult r;
                if (job.Write)
                {
                    DiagnosticPattern.Fill(span, job.Seed, done);
                    r = function.Dma.Write(job.Address + done, span);
                }
                else
                {
                    r = function.Dma.Read(job.Address + done, span);
                    hash = Fnv1a.Append(hash, span);
                }

                if (r != DmaResult.Ok)
                {
                    return (AudioDmaErrors.Of(r), 0);
                }
            }

            return (AudioDmaErr.None, hash);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A transfer the driver programmed broke a rule (spec §6.1): reported with its first bad byte.</summary>
    private void Report(Job job, AudioDmaErr code)
    {
        if (AudioRules.Diag(code) is not { } rule)
        {
            return;
        }

        ulong? bad = code switch
        {
            AudioDmaErr.Length => null,
            AudioDmaErr.Align => job.Address,
            AudioDmaErr.AddrBits => Math.Max(job.Address, constraints.AddressLimit + 1),
            _ => function.Dma.FirstFault(job.Address, job.Length, job.Write ? DmaAccess.Write : DmaAccess.Read),
        };
        function.Checker.Report(rule, new ViolationDetails
        {
            What = $"the diagnostic {(job.Write ? "write" : "read")} of {job.Length} B at 0x{job.Address:x} that the driver started broke the DMA rules",
            Register = "DIAG_DMA_ADDR",
            RegisterOffset = (uint)AudioRegister.DiagDmaAddr,
            Value = job.Address,
            BadAddress = bad,
            ErrorCode = AudioRules.ErrcodeText(code),
            Consequence = "DIAG_DMA_STS = ERR with the ERRCODE, INTSTS.DMA_ERR raised",
            Cause = job.Cause,
        });
    }

    private readonly record struct Job(ulong Address, uint Length, uint Seed, bool Write, long Generation, GuestAccess? Cause);

    [LoggerMessage(EventId = 3110, Level = LogLevel.Debug, Message = "Diagnostic DMA {Direction} of {Length} B at 0x{Address:x} started")]
    private static partial void LogStart(ILogger logger, string direction, ulong address, uint length);

    [LoggerMessage(EventId = 3111, Level = LogLevel.Debug, Message = "Diagnostic DMA finished: {Code}, hash 0x{Hash:x8}")]
    private static partial void LogDone(ILogger logger, AudioDmaErr code, uint hash);

    [LoggerMessage(EventId = 3112, Level = LogLevel.Information, Message = "Diagnostic DMA aborted by {Reason}")]
    private static partial void LogAborted(ILogger logger, string reason);
}

/// <summary>The seeded pattern a diagnostic DMA write produces (spec §6.2).</summary>
internal static class DiagnosticPattern
{
    public const uint Step = 0x9E3779B9;

    /// <summary>Fills <paramref name="destination"/> with pattern bytes starting at byte <paramref name="offset"/> of the stream.</summary>
    public static void Fill(Span<byte> destination, uint seed, uint offset)
    {
        Span<byte> word = stackalloc byte[4];
        for (int i = 0; i < destination.Length; i++)
        {
            uint at = offset + (uint)i;
            BinaryPrimitives.WriteUInt32LittleEndian(word, seed ^ unchecked((at / 4) * Step));
            destination[i] = word[(int)(at % 4)];
        }
    }
}
