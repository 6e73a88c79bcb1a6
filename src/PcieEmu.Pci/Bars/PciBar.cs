namespace PcieEmu.Pci.Bars;

public enum BarKind
{
    Memory32,
    Memory64,
    Io,
}

/// <summary>A sub-range of a BAR the client may map directly (sparse mmap area).</summary>
public readonly record struct MmapArea(ulong Offset, ulong Size);

/// <summary>
/// One Base Address Register's resource: either trapped (every access goes to <see cref="Handler"/>) or
/// backed by shared memory that the client may map (<see cref="Memory"/>, <see cref="MmapAreas"/>) and the
/// device reads and writes directly.
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

    public int Index { get; }

    public string Name { get; }

    public BarKind Kind { get; }

    public bool Prefetchable { get; }

    public ulong Size { get; }

    public IMmioHandler? Handler { get; }

    public AccessSizes AccessSizes { get; }

    public SharedMemory? Memory { get; }

    public IReadOnlyList<MmapArea> MmapAreas { get; }

    public bool IsMemory => Kind != BarKind.Io;

    public bool Is64Bit => Kind == BarKind.Memory64;

    /// <summary>The type bits of the BAR register (bits 3:0).</summary>
    public uint TypeBits => Kind switch
    {
        BarKind.Io => 0x1,
        BarKind.Memory64 => 0x4u | (Prefetchable ? 0x8u : 0),
        _ => Prefetchable ? 0x8u : 0,
    };
}
