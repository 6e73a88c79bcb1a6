namespace PcieEmu.Pci.Observation;

/// <summary>
/// What a trace record is (src/PcieEmu.Tracing/TRACE-FORMAT.md). Numbers are part of the file format: never renumber.
/// <para>
/// A <b>unit</b> is one stimulus the function ran atomically at one device-clock instant: a bus access, a
/// client's DMA or interrupt set-up, or one step of a device's own scheduler. The records after a unit up to the
/// next unit are what the device did inside it, in order.
/// </para>
/// </summary>
public enum TraceEventKind : byte
{
    ConfigRead = 1,
    ConfigWrite = 2,
    BarRead = 3,
    BarWrite = 4,
    RomRead = 5,
    Reset = 6,
    DmaMap = 7,
    DmaUnmap = 8,
    DmaUnmapAll = 9,
    IrqAssign = 10,
    IrqDisable = 11,
    IrqMask = 12,
    IrqInject = 13,
    IrqRelease = 14,
    /// <summary>One step of the function's scheduler: its queued jobs, then every work item due.</summary>
    SchedulerStep = 15,

    /// <summary>The bytes a read unit returned to the bus (output).</summary>
    ReadData = 32,

    /// <summary>A device read of guest memory: the address, result and bytes read (input on replay).</summary>
    DmaRead = 33,

    /// <summary>A device write into guest memory with the bytes written (output).</summary>
    DmaWrite = 34,

    /// <summary>An interrupt signalled to the client (output).</summary>
    Interrupt = 35,

    /// <summary>
    /// The scheduler runs one of its work items (A = the item's index; a card's streams, in card order): the records
    /// after it, up to the next Work or unit, are that item's. Written only when the item records something.
    /// </summary>
    Work = 36,

    /// <summary>The first kind a device may define (<see cref="DeviceRecordKind"/>); its fields come with the trace.</summary>
    FirstDeviceKind = 64,

    /// <summary>The last kind a device may define.</summary>
    LastDeviceKind = 127,

    /// <summary>Last record of a complete trace: the number of records before it.</summary>
    End = 0xFF,
}

/// <summary>Which fields a record kind carries (one table for writer, reader and tools).</summary>
[Flags]
public enum TraceFields : ushort
{
    None = 0,
    Time = 1,
    A = 2,
    B = 4,
    C = 8,
    Data = 16,
    Text = 32,
    Detail = 64,
}

/// <summary>The framework's record kinds and their fields (one table for writer, reader and tools).</summary>
public static class TraceSchema
{
    /// <summary>The fields of framework kind <paramref name="kind"/>, or null for a device kind or one this version does not know.</summary>
    public static TraceFields? FieldsOf(TraceEventKind kind) => kind switch
    {
        TraceEventKind.ConfigRead => TraceFields.Time | TraceFields.A | TraceFields.B,
        TraceEventKind.ConfigWrite => TraceFields.Time | TraceFields.A | TraceFields.Data,
        TraceEventKind.BarRead => TraceFields.Time | TraceFields.A | TraceFields.B | TraceFields.C,
        TraceEventKind.BarWrite => TraceFields.Time | TraceFields.A | TraceFields.B | TraceFields.Data,
        TraceEventKind.RomRead => TraceFields.Time | TraceFields.A | TraceFields.B,
        TraceEventKind.Reset => TraceFields.Time | TraceFields.A,
        TraceEventKind.DmaMap => TraceFields.Time | TraceFields.A | TraceFields.B | TraceFields.C,
        TraceEventKind.DmaUnmap => TraceFields.Time | TraceFields.A | TraceFields.B,
        TraceEventKind.DmaUnmapAll => TraceFields.Time,
        TraceEventKind.IrqAssign => TraceFields.Time | TraceFields.A | TraceFields.B | TraceFields.Data,
        TraceEventKind.IrqDisable => TraceFields.Time | TraceFields.A,
        TraceEventKind.IrqMask => TraceFields.Time | TraceFields.A | TraceFields.B | TraceFields.C,
        TraceEventKind.IrqInject => TraceFields.Time | TraceFields.A | TraceFields.B,
        TraceEventKind.IrqRelease => TraceFields.Time,
        TraceEventKind.SchedulerStep => TraceFields.Time,
        TraceEventKind.ReadData => TraceFields.Data,
        TraceEventKind.DmaRead => TraceFields.A | TraceFields.B | TraceFields.C | TraceFields.Data,
        TraceEventKind.DmaWrite => TraceFields.A | TraceFields.C | TraceFields.Data,
        TraceEventKind.Interrupt => TraceFields.A | TraceFields.B,
        TraceEventKind.Work => TraceFields.A,
        TraceEventKind.End => TraceFields.A,
        _ => null,
    };

    public static bool IsUnit(TraceEventKind kind) => kind is >= TraceEventKind.ConfigRead and <= TraceEventKind.SchedulerStep;

    public static bool IsDeviceKind(TraceEventKind kind) => kind is >= TraceEventKind.FirstDeviceKind and <= TraceEventKind.LastDeviceKind;

    /// <summary>Kinds whose recorded data the replay feeds to the device instead of comparing.</summary>
    public static bool IsInput(TraceEventKind kind) => kind == TraceEventKind.DmaRead;
}

/// <summary>
/// A record kind a device defines for what only it knows (a driver-rule violation, samples handed to a sink):
/// its number (in [<see cref="TraceEventKind.FirstDeviceKind"/>, <see cref="TraceEventKind.LastDeviceKind"/>]),
/// a name for the tools, and its fields. A trace carries its device kinds, so any reader can decode them.
/// </summary>
public sealed record DeviceRecordKind(TraceEventKind Kind, string Name, TraceFields Fields)
{
    public TraceRecord Record(ulong a = 0, ulong b = 0, ulong c = 0, ReadOnlySpan<byte> data = default, string? text = null, string? detail = null) =>
        new(Kind, 0, a, b, c, data, text, detail);
}
