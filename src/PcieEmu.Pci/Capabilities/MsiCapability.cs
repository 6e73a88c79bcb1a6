namespace PcieEmu.Pci.Capabilities;

/// <summary>
/// MSI (PCI 3.0 §6.8.1). Vector count is a power of two up to 32. The pending bits are owned by the
/// interrupt controller and mirrored into config space when they change.
/// </summary>
public sealed class MsiCapability : PciCapability
{
    private const int Control = 2;
    private const ushort EnableBit = 1;
    private const ushort Is64Bit = 1 << 7;
    private const ushort PerVectorMaskBit = 1 << 8;

    public MsiCapability(int vectors, bool is64Bit = true, bool perVectorMask = true)
    {
        if (vectors is < 1 or > 32 || (vectors & (vectors - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(vectors), vectors, "MSI vector count must be a power of two in 1..32");
        }

        Vectors = vectors;
        Supports64Bit = is64Bit;
        PerVectorMask = perVectorMask;
    }

    public override byte Id => 0x05;

    public override string Name => "MSI";

    public int Vectors { get; }

    public bool Supports64Bit { get; }

    public bool PerVectorMask { get; }

    public override int Length => (Supports64Bit ? 14 : 10) + (PerVectorMask ? 10 : 0);

    private int DataOffset => Supports64Bit ? 0xC : 0x8;

    private int MaskOffset => Supports64Bit ? 0x10 : 0xC;

    private int PendingOffset => MaskOffset + 4;

    public bool Enabled => (Get16(Control) & EnableBit) != 0;

    /// <summary>Vectors the driver enabled (Multiple Message Enable), clamped to what the function is capable of.</summary>
    public int EnabledVectors => Math.Min(1 << ((Get16(Control) >> 4) & 0x7), Vectors);

    public bool IsMasked(int vector) => PerVectorMask && (Get32(MaskOffset) & (1u << vector)) != 0;

    internal void SetPendingBits(uint bits)
    {
        if (PerVectorMask)
        {
            Set32(PendingOffset, bits);
        }
    }

    protected internal override void Install(Config.ConfigSpace config)
    {
        int mmc = System.Numerics.BitOperations.Log2((uint)Vectors);
        ushort control = (ushort)((mmc << 1) | (Supports64Bit ? Is64Bit : 0) | (PerVectorMask ? PerVectorMaskBit : 0));
        Define(Control, 2, control, writable: EnableBit | (0x7 << 4));
        Define(4, 4, 0, writable: 0xFFFF_FFFC);
        if (Supports64Bit)
        {
            Define(8, 4, 0, writable: 0xFFFF_FFFF);
        }

        Define(DataOffset, 2, 0, writable: 0xFFFF);
        Define(DataOffset + 2, 2, 0);
        if (PerVectorMask)
        {
            uint vectorBits = Vectors == 32 ? uint.MaxValue : (1u << Vectors) - 1;
            Define(MaskOffset, 4, 0, writable: vectorBits);
            Define(PendingOffset, 4, 0);
        }
    }

    protected internal override void OnWritten(int relativeOffset, int length, uint oldValue)
    {
        if (Touches(relativeOffset, length, Control, 2) || (PerVectorMask && Touches(relativeOffset, length, MaskOffset, 4)))
        {
            Host.Interrupts.ReevaluateRouting();
        }
    }
}
