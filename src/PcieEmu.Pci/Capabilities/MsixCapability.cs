using System.Buffers.Binary;

namespace PcieEmu.Pci.Capabilities;

/// <summary>
/// MSI-X (PCI 3.0 §6.8.2): table and PBA live in a memory BAR. vfio-user clients emulate the table
/// themselves and forward only PBA reads, so this function keeps the table's bytes for clients that do
/// write it but routes and masks interrupts by Message Control and the client's SET_IRQS masks; the PBA
/// is built from the interrupt controller's pending bits. The table and PBA must lie inside memory BARs (usually one
/// declared with <see cref="PciFunctionBuilder.ReservedMemoryBar"/>); the builder checks it. Devices raise vectors
/// through <see cref="PciFunction.Interrupts"/>.
/// </summary>
public sealed class MsixCapability : PciCapability
{
    private const int Control = 2;
    private const ushort EnableBit = 1 << 15;
    private const ushort FunctionMaskBit = 1 << 14;
    /// <summary>Bytes per table entry (address, data, vector control).</summary>
    public const int EntrySize = 16;

    private readonly byte[] _table;

    /// <param name="vectors">Table size, 1 … 2048.</param>
    /// <param name="tableBar">BAR holding the table (its BIR).</param>
    /// <param name="tableOffset">Offset of the table in that BAR; 8-byte aligned. The table takes <paramref name="vectors"/> × 16 bytes.</param>
    /// <param name="pbaBar">BAR holding the Pending Bit Array.</param>
    /// <param name="pbaOffset">Offset of the PBA in that BAR; 8-byte aligned. The PBA takes 8 bytes per 64 vectors.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="vectors"/> is outside 1 … 2048.</exception>
    /// <exception cref="ArgumentException">An offset is not 8-byte aligned.</exception>
    public MsixCapability(int vectors, int tableBar, uint tableOffset, int pbaBar, uint pbaOffset)
    {
        if (vectors is < 1 or > 2048)
        {
            throw new ArgumentOutOfRangeException(nameof(vectors), vectors, "MSI-X supports 1..2048 vectors");
        }

        if ((tableOffset & 7) != 0 || (pbaOffset & 7) != 0)
        {
            throw new ArgumentException("MSI-X table and PBA offsets must be 8-byte aligned");
        }

        Vectors = vectors;
        TableBar = tableBar;
        TableOffset = tableOffset;
        PbaBar = pbaBar;
        PbaOffset = pbaOffset;
        _table = new byte[vectors * EntrySize];
        ResetTable();
    }

    /// <inheritdoc/>
    public override byte Id => 0x11;

    /// <inheritdoc/>
    public override int Length => 12;

    /// <inheritdoc/>
    public override string Name => "MSI-X";

    /// <summary>Entries in the table: the vectors the device may raise (0 … <see cref="Vectors"/> - 1).</summary>
    public int Vectors { get; }

    /// <summary>BAR holding the table.</summary>
    public int TableBar { get; }

    /// <summary>Offset of the table in <see cref="TableBar"/>.</summary>
    public uint TableOffset { get; }

    /// <summary>BAR holding the Pending Bit Array.</summary>
    public int PbaBar { get; }

    /// <summary>Offset of the PBA in <see cref="PbaBar"/>.</summary>
    public uint PbaOffset { get; }

    /// <summary>Bytes of the table: <see cref="Vectors"/> × <see cref="EntrySize"/>.</summary>
    public ulong TableSize => (ulong)Vectors * EntrySize;

    /// <summary>Bytes of the PBA: one bit per vector, in whole qwords.</summary>
    public ulong PbaSize => (ulong)((Vectors + 63) / 64) * 8;

    /// <summary>The driver set MSI-X Enable: interrupts go out as MSI-X messages.</summary>
    public bool Enabled => (Get16(Control) & EnableBit) != 0;

    /// <summary>The driver set Function Mask: every vector is held pending until it clears.</summary>
    public bool FunctionMasked => (Get16(Control) & FunctionMaskBit) != 0;

    internal override void Install(Config.ConfigSpace config)
    {
        Define(Control, 2, (uint)(Vectors - 1), writable: EnableBit | FunctionMaskBit);
        Define(4, 4, TableOffset | (uint)TableBar);
        Define(8, 4, PbaOffset | (uint)PbaBar);
    }

    internal override void OnWritten(int relativeOffset, int length, uint oldValue)
    {
        if (Touches(relativeOffset, length, Control, 2))
        {
            Host.Interrupts.ReevaluateRouting();
        }
    }

    internal override void OnReset() => ResetTable();

    internal bool InTable(int bar, ulong offset, int length) =>
        bar == TableBar && offset >= TableOffset && offset + (ulong)length <= TableOffset + TableSize;

    internal bool InPba(int bar, ulong offset, int length) =>
        bar == PbaBar && offset >= PbaOffset && offset + (ulong)length <= PbaOffset + PbaSize;

    internal ulong ReadTable(ulong offset, AccessSize size)
    {
        var slice = _table.AsSpan((int)(offset - TableOffset), (int)size);
        return size switch
        {
            AccessSize.Byte => slice[0],
            AccessSize.Word => BinaryPrimitives.ReadUInt16LittleEndian(slice),
            AccessSize.Dword => BinaryPrimitives.ReadUInt32LittleEndian(slice),
            _ => BinaryPrimitives.ReadUInt64LittleEndian(slice),
        };
    }

    internal void WriteTable(ulong offset, AccessSize size, ulong value)
    {
        var slice = _table.AsSpan((int)(offset - TableOffset), (int)size);
        for (int i = 0; i < (int)size; i++)
        {
            slice[i] = (byte)(value >> (8 * i));
        }
    }

    /// <summary>Vector Control bit 0 as the table holds it (advisory: vfio-user clients keep their own copy).</summary>
    public bool TableMaskBit(int vector) => (_table[(vector * EntrySize) + 12] & 1) != 0;

    private void ResetTable()
    {
        Array.Clear(_table);
        for (int v = 0; v < Vectors; v++)
        {
            _table[(v * EntrySize) + 12] = 1; // masked at reset (PCI 3.0 §6.8.2.9)
        }
    }
}
