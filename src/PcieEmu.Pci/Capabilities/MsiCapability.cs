namespace PcieEmu.Pci.Capabilities;

/// <summary>
/// MSI (PCI 3.0 §6.8.1). Vector count is a power of two up to 32. The pending bits are owned by the
/// interrupt controller and mirrored into config space when they change. Devices do not touch it: they raise vectors
/// through <see cref="PciFunction.Interrupts"/>, which routes by what the driver enabled here.
/// </summary>
public sealed class MsiCapability : PciCapability
{
    private const int Control = 2;
    private const ushort EnableBit = 1;
    private const ushort Is64Bit = 1 << 7;
    private const ushort PerVectorMaskBit = 1 << 8;

    /// <param name="vectors">Vectors the function can use (Multiple Message Capable): 1, 2, 4, 8, 16 or 32.</param>
    /// <param name="is64Bit">Offer a 64-bit message address.</param>
    /// <param name="perVectorMask">Offer per-vector masking (Mask and Pending Bits registers).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="vectors"/> is not a power of two in 1 … 32.</exception>
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

    /// <inheritdoc/>
    public override byte Id => 0x05;

    /// <inheritdoc/>
    public override string Name => "MSI";

    /// <summary>Vectors the function is capable of (Multiple Message Capable).</summary>
    public int Vectors { get; }

    /// <summary>The message address is 64-bit.</summary>
    public bool Supports64Bit { get; }

    /// <summary>The capability has Mask and Pending Bits registers.</summary>
    public bool PerVectorMask { get; }

    /// <inheritdoc/>
    public override int Length => (Supports64Bit ? 14 : 10) + (PerVectorMask ? 10 : 0);

    private int DataOffset => Supports64Bit ? 0xC : 0x8;

    private int MaskOffset => Supports64Bit ? 0x10 : 0xC;

    private int PendingOffset => MaskOffset + 4;

    /// <summary>The driver set MSI Enable; interrupts then go out as MSI unless MSI-X is enabled too.</summary>
    public bool Enabled => (Get16(Control) & EnableBit) != 0;

    /// <summary>Vectors the driver enabled (Multiple Message Enable), clamped to what the function is capable of.</summary>
    public int EnabledVectors => Math.Min(1 << ((Get16(Control) >> 4) & 0x7), Vectors);

    /// <summary>The driver masked <paramref name="vector"/> in the Mask Bits register (always false without per-vector masking).</summary>
    public bool IsMasked(int vector) => PerVectorMask && (Get32(MaskOffset) & (1u << vector)) != 0;

    internal void SetPendingBits(uint bits)
    {
        if (PerVectorMask)
        {
            Set32(PendingOffset, bits);
        }
    }

    internal override void Install(Config.ConfigSpace config)
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

    internal override void OnWritten(int relativeOffset, int length, uint oldValue)
    {
        if (Touches(relativeOffset, length, Control, 2) || (PerVectorMask && Touches(relativeOffset, length, MaskOffset, 4)))
        {
            Host.Interrupts.ReevaluateRouting();
        }
    }
}
