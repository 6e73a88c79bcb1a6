namespace PcieEmu.Pci.Bars;

/// <summary>What a BAR decodes.</summary>
internal enum BarKind
{
    Memory32,
    Memory64,
    Io,
}

/// <summary>A sub-range of a BAR the client may map directly (sparse mmap area), in bytes from the BAR's start.</summary>
/// <param name="Offset">Start of the area; page-aligned.</param>
/// <param name="Size">Length of the area; a non-zero multiple of the page size.</param>
public readonly record struct MmapArea(ulong Offset, ulong Size);

/// <summary>
/// One Base Address Register's resource, as <see cref="PciFunctionBuilder"/> declared it: either trapped (every access
/// goes to <see cref="Handler"/>) or backed by shared memory that the client may map (<see cref="Memory"/>,
/// <see cref="MmapAreas"/>) and the device reads and writes directly. Immutable; <see cref="PciFunction.Bars"/> lists them.
/// </summary>
public sealed class PciBar
{
    internal PciBar(int index, string name, BarKind kind, bool prefetchable, ulong size, IMmioHandler? handler,
        AccessSizes accessSizes, SharedMemory? memory, IReadOnlyList<MmapArea> mmapAreas)
    {
        Index = index;
        Name = name;
        Kind = kind;
        Prefetchable = prefetchable;
        Size = size;
        Handler = handler;
        AccessSizes = accessSizes;
        Memory = memory;
        MmapAreas = mmapAreas;
    }

    /// <summary>The BAR's slot, 0 … 5 (a 64-bit BAR also takes the next slot).</summary>
    public int Index { get; }

    /// <summary>The name the device gave it, for logs.</summary>
    public string Name { get; }

    internal BarKind Kind { get; }

    /// <summary>The BAR is marked prefetchable (memory BARs only).</summary>
    public bool Prefetchable { get; }

    /// <summary>Bytes the BAR decodes: a power of two.</summary>
    public ulong Size { get; }

    /// <summary>The device's handler of a trapped BAR, or null for a shared-memory BAR.</summary>
    public IMmioHandler? Handler { get; }

    /// <summary>The widths <see cref="Handler"/> takes; other accesses are split (<see cref="Pci.AccessSizes"/>).</summary>
    public AccessSizes AccessSizes { get; }

    /// <summary>The memory behind a shared-memory BAR, or null for a trapped one. Owned by the function (disposed with it, cleared at reset).</summary>
    public SharedMemory? Memory { get; }

    /// <summary>The parts of a shared-memory BAR the client may map; empty for a trapped BAR.</summary>
    public IReadOnlyList<MmapArea> MmapAreas { get; }

    /// <summary>True for a memory BAR, false for an I/O BAR.</summary>
    public bool IsMemory => Kind != BarKind.Io;

    /// <summary>True for a 64-bit memory BAR (it also takes slot <see cref="Index"/> + 1).</summary>
    public bool Is64Bit => Kind == BarKind.Memory64;

    /// <summary>The type bits of the BAR register (bits 3:0).</summary>
    internal uint TypeBits => Kind switch
    {
        BarKind.Io => 0x1,
        BarKind.Memory64 => 0x4u | (Prefetchable ? 0x8u : 0),
        _ => Prefetchable ? 0x8u : 0,
    };
}
