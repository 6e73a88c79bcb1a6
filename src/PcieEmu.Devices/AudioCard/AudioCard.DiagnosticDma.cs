using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Common;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard;

/// <summary>The diagnostic DMA engine (spec §6.2): armed by a register write, run on the card's worker.</summary>
public sealed partial class AudioCard
{
    private const int ChunkBytes = 4096;
    private long _diagGeneration;
    private bool _diagBusy;

    /// <summary>Diagnostic transfers completed (successfully or not).</summary>
    public long DiagnosticTransfers => Interlocked.Read(ref _diagTransfers);

    private long _diagTransfers;

    private void DiagnosticDmaControl(in RegisterWrite write)
    {
        if (_diagBusy)
        {
            // START reads 1 and DIR is frozen until the transfer ends; a write changes nothing.
            _registers.Set((uint)AudioRegister.DiagDmaCtl, write.OldValue);
            if ((write.OnesWritten & AudioFields.DiagDmaCtl.Start) != 0)
            {
                Violations.Record("DiagDmaStartWhileBusy", "DIAG_DMA_CTL.START written while a transfer was running");
            }

            return;
        }

        if ((write.NewValue & AudioFields.DiagDmaCtl.Start) == 0)
        {
            return;
        }

        var job = new DiagJob(
            _registers.Get((uint)AudioRegister.DiagDmaAddr),
            (uint)_registers.Get((uint)AudioRegister.DiagDmaLen),
            (uint)_registers.Get((uint)AudioRegister.DiagDmaSeed),
            (write.NewValue & AudioFields.DiagDmaCtl.Dir) != 0,
            _diagGeneration);
        _registers.Set((uint)AudioRegister.DiagDmaSts, AudioFields.DiagDmaSts.Busy);
        _diagBusy = true;
        LogDiagStart(_logger, job.Write ? "write" : "read", job.Address, job.Length);
        _worker.Post(() => RunDiagnostic(job));
    }

    private void RunDiagnostic(DiagJob job)
    {
        var (code, hash) = Transfer(job);
        Interlocked.Increment(ref _diagTransfers);
        if (code is not (AudioDmaErr.None or AudioDmaErr.Transport))
        {
            // Before the status is published: whoever sees ERR in DIAG_DMA_STS also finds the violation.
            Violations.Record($"Dma{code}", $"diagnostic {(job.Write ? "write" : "read")} of {job.Length} B at 0x{job.Address:x}");
        }

        lock (Function.Sync)
        {
            if (job.Generation != _diagGeneration)
            {
                return; // reset while running: the result is void
            }

            _diagBusy = false;
            _registers.ClearBits((uint)AudioRegister.DiagDmaCtl, AudioFields.DiagDmaCtl.Start);
            if (code == AudioDmaErr.None)
            {
                _registers.Set((uint)AudioRegister.DiagDmaSts, AudioFields.DiagDmaSts.Done);
                if (!job.Write)
                {
                    _registers.Set((uint)AudioRegister.DiagDmaResult, hash);
                }

                RaiseCause(AudioFields.Intsts.DmaDone, MiscVector);
            }
            else
            {
                _registers.Set((uint)AudioRegister.DiagDmaSts, AudioFields.DiagDmaSts.Err | ((ulong)code << AudioFields.DiagDmaSts.ErrcodeShift));
                RaiseCause(AudioFields.Intsts.DmaErr, MiscVector);
            }
        }

        LogDiagDone(_logger, code, hash);
    }

    /// <summary>Runs without the function lock. Constraint checks first (nothing moves), then the mapping check.</summary>
    private (AudioDmaErr Code, uint Hash) Transfer(DiagJob job)
    {
        var dma = Model.Dma;
        if (job.Length == 0 || job.Length > dma.MaxSegmentBytes)
        {
            return (AudioDmaErr.Length, 0);
        }

        if ((job.Address & (dma.Alignment - 1)) != 0)
        {
            return (AudioDmaErr.Align, 0);
        }

        if (job.Address > dma.AddressLimit || job.Length - 1 > dma.AddressLimit - job.Address)
        {
            return (AudioDmaErr.AddrBits, 0);
        }

        var access = job.Write ? DmaAccess.Write : DmaAccess.Read;
        var check = Function.Dma.Check(job.Address, job.Length, access);
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
                if (Volatile.Read(ref _diagGeneration) != job.Generation)
                {
                    return (AudioDmaErr.None, 0); // reset: stop moving bytes
                }

                int n = (int)Math.Min(ChunkBytes, job.Length - done);
                var span = buffer.AsSpan(0, n);
                DmaResult r;
                if (job.Write)
                {
                    DiagnosticPattern.Fill(span, job.Seed, done);
                    r = Function.Dma.Write(job.Address + done, span);
                }
                else
                {
                    r = Function.Dma.Read(job.Address + done, span);
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

    /// <summary>Stops the engines: a running transfer moves no more bytes and its result is dropped. Lock held.</summary>
    private void ResetEngines(string reason)
    {
        if (_diagBusy)
        {
            LogDiagAborted(_logger, reason);
        }

        _diagGeneration++;
        _diagBusy = false;
    }

    /// <summary>The client left: a running transfer ends with ERR/TRANSPORT (spec §7). Lock held.</summary>
    private void AbortEnginesWithTransportError()
    {
        bool wasBusy = _diagBusy;
        ResetEngines("client lost");
        if (wasBusy)
        {
            _registers.ClearBits((uint)AudioRegister.DiagDmaCtl, AudioFields.DiagDmaCtl.Start);
            _registers.Set((uint)AudioRegister.DiagDmaSts, AudioFields.DiagDmaSts.Err | ((ulong)AudioDmaErr.Transport << AudioFields.DiagDmaSts.ErrcodeShift));
            _registers.SetBits((uint)AudioRegister.Intsts, AudioFields.Intsts.DmaErr);
        }
    }

    private readonly record struct DiagJob(ulong Address, uint Length, uint Seed, bool Write, long Generation);

    [LoggerMessage(EventId = 3110, Level = LogLevel.Debug, Message = "Diagnostic DMA {Direction} of {Length} B at 0x{Address:x} started")]
    private static partial void LogDiagStart(ILogger logger, string direction, ulong address, uint length);

    [LoggerMessage(EventId = 3111, Level = LogLevel.Debug, Message = "Diagnostic DMA finished: {Code}, hash 0x{Hash:x8}")]
    private static partial void LogDiagDone(ILogger logger, AudioDmaErr code, uint hash);

    [LoggerMessage(EventId = 3112, Level = LogLevel.Information, Message = "Diagnostic DMA aborted by {Reason}")]
    private static partial void LogDiagAborted(ILogger logger, string reason);
}

/// <summary>The seeded pattern a diagnostic DMA write produces (spec §6.2).</summary>
public static class DiagnosticPattern
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
