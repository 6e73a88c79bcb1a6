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

    /// <summary>What the driver programmed, read at RUN.</summary>
    public StreamRegisters Snapshot() => new(
        (uint)Get(AudioSdRegister.Fmt),
        Get(AudioSdRegister.Bdl),
        (uint)Get(AudioSdRegister.Bdln),
        (uint)Get(AudioSdRegister.Cbl),
        Get(AudioSdRegister.Posbuf));
}
