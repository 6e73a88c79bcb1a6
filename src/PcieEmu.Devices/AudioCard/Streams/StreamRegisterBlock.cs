using System.Buffers.Binary;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>One stream's register block (SD&lt;n&gt;, spec §9.1) in the card's register bank: offsets relative to the block.</summary>
internal sealed class StreamRegisterBlock(RegisterBank bank, int index)
{
    public uint Base { get; } = AudioSdBlock.Base + ((uint)index * AudioSdBlock.Stride);

    public uint Offset(AudioSdRegister register) => Base + (uint)register;

    public bool Contains(uint offset) => offset >= Base && offset < Base + AudioSdBlock.Stride;

    public ulong Get(AudioSdRegister register) => bank.Get(Offset(register));

    public void Set(AudioSdRegister register, ulong value) => bank.Set(Offset(register), value);

    public void Set(uint offset, ulong value) => bank.Set(offset, value);

    public void SetBits(AudioSdRegister register, ulong bits) => bank.SetBits(Offset(register), bits);

    public void ClearBits(AudioSdRegister register, ulong bits) => bank.ClearBits(Offset(register), bits);

    /// <summary>Every register of the block back to its reset value (SD_CTL.SRST, spec §9.3).</summary>
    public void Reset()
    {
        foreach (var r in bank.Registers)
        {
            if (Contains(r.Offset))
            {
                bank.Set(r.Offset, r.ResetValue);
            }
        }
    }

    /// <summary>LPIB, BCNT, FRAMES and the zero timestamp back to 0: a run starts (spec §11).</summary>
    public void ClearPositions()
    {
        foreach (var r in new[] { AudioSdRegister.Lpib, AudioSdRegister.Bcnt, AudioSdRegister.Frames, AudioSdRegister.ZtsFrames, AudioSdRegister.ZtsTime })
        {
            Set(r, 0);
        }
    }

    /// <summary>
    /// A start refused or a run ended by an error (spec §9.3, §10): CTL.RUN and STS.RUNNING cleared, STS.ERRCODE set
    /// to <paramref name="code"/>. STS.ERR is the caller's: raised as a cause, or set outright when the client is gone.
    /// </summary>
    public void StopWithError(AudioDmaErr code)
    {
        ClearBits(AudioSdRegister.Ctl, AudioSdFields.Ctl.Run);
        Set(AudioSdRegister.Sts,
            (Get(AudioSdRegister.Sts) & ~(AudioSdFields.Sts.Errcode | AudioSdFields.Sts.Running))
            | ((ulong)code << AudioSdFields.Sts.ErrcodeShift));
    }

    /// <summary>
    /// Publishes a run's position once it reached frame <paramref name="to"/> (spec §11.1–§11.3): FRAMES, LPIB, BCNT
    /// advanced by <paramref name="iocs"/> boundaries, and the zero timestamp when the buffer wrapped at
    /// <paramref name="wrapFrame"/> (−1: it did not). <paramref name="positionRecord"/> gets the 16-byte
    /// position-buffer record.
    /// </summary>
    public void PublishPosition(StreamProgram program, long to, long iocs, long wrapFrame, long wrapTime, Span<byte> positionRecord)
    {
        long bytes = to * program.Format.FrameBytes;
        Set(AudioSdRegister.Frames, (ulong)to);
        Set(AudioSdRegister.Lpib, (ulong)(bytes % program.BufferBytes));
        if (iocs > 0)
        {
            Set(AudioSdRegister.Bcnt, (Get(AudioSdRegister.Bcnt) + (ulong)iocs) & 0xFFFF_FFFF);
        }

        if (wrapFrame >= 0)
        {
            Set(AudioSdRegister.ZtsFrames, (ulong)wrapFrame);
            Set(AudioSdRegister.ZtsTime, (ulong)wrapTime);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(positionRecord, (uint)(bytes % program.BufferBytes));
        BinaryPrimitives.WriteUInt32LittleEndian(positionRecord[4..], (uint)Get(AudioSdRegister.Bcnt));
        BinaryPrimitives.WriteUInt64LittleEndian(positionRecord[8..], (ulong)to);
    }

    /// <summary>What the driver programmed, read at RUN.</summary>
    public StreamRegisters Snapshot() => new(
        (uint)Get(AudioSdRegister.Fmt),
        Get(AudioSdRegister.Bdl),
        (uint)Get(AudioSdRegister.Bdln),
        (uint)Get(AudioSdRegister.Cbl),
        Get(AudioSdRegister.Posbuf));
}
