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
    /// <summary>Unit: a client config read (A = offset, B = length).</summary>
    ConfigRead = 1,

    /// <summary>Unit: a client config write (A = offset, Data = bytes).</summary>
    ConfigWrite = 2,

    /// <summary>Unit: a client BAR read (A = BAR, B = offset, C = length).</summary>
    BarRead = 3,

    /// <summary>Unit: a client BAR write (A = BAR, B = offset, Data = bytes).</summary>
    BarWrite = 4,

    /// <summary>Unit: a client ROM read (A = offset, B = length).</summary>
    RomRead = 5,

    /// <summary>Unit: a reset through <see cref="PciFunction.Reset"/> (A = <see cref="ResetKind"/>).</summary>
    Reset = 6,

    /// <summary>Unit: the client mapped guest memory for DMA (A = IOVA, B = size, C = access: bit 0 read, bit 1 write, 0x100 shared memory).</summary>
    DmaMap = 7,

    /// <summary>Unit: the client unmapped a DMA range (A = IOVA, B = size).</summary>
    DmaUnmap = 8,

    /// <summary>Unit: every DMA mapping went away at once (client reset or lost).</summary>
    DmaUnmapAll = 9,

    /// <summary>Unit: the client wired interrupt signals (A = <see cref="Interrupts.IrqIndex"/>, B = first vector, Data = one byte per vector, 1 = a signal).</summary>
    IrqAssign = 10,

    /// <summary>Unit: the client disabled an IRQ index (A = index).</summary>
    IrqDisable = 11,

    /// <summary>Unit: the client masked or unmasked vectors (A = IRQ index, B = first vector, C = count | masked &lt;&lt; 32).</summary>
    IrqMask = 12,

    /// <summary>Unit: the client triggered a vector itself (A = index, B = vector).</summary>
    IrqInject = 13,

    /// <summary>Unit: the client's interrupt signals were all released (client gone).</summary>
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
    /// <summary>No field.</summary>
    None = 0,

    /// <summary><see cref="TraceRecord.Time"/> (units only).</summary>
    Time = 1,

    /// <summary><see cref="TraceRecord.A"/>.</summary>
    A = 2,

    /// <summary><see cref="TraceRecord.B"/>.</summary>
    B = 4,

    /// <summary><see cref="TraceRecord.C"/>.</summary>
    C = 8,

    /// <summary><see cref="TraceRecord.Data"/>.</summary>
    Data = 16,

    /// <summary><see cref="TraceRecord.Text"/>.</summary>
    Text = 32,

    /// <summary><see cref="TraceRecord.Detail"/>.</summary>
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

    /// <summary>True for the kinds that begin a unit (a stimulus): <see cref="TraceEventKind.ConfigRead"/> … <see cref="TraceEventKind.SchedulerStep"/>.</summary>
    public static bool IsUnit(TraceEventKind kind) => kind is >= TraceEventKind.ConfigRead and <= TraceEventKind.SchedulerStep;

    /// <summary>True for the range a device defines its own kinds in (<see cref="TraceEventKind.FirstDeviceKind"/> … <see cref="TraceEventKind.LastDeviceKind"/>).</summary>
    public static bool IsDeviceKind(TraceEventKind kind) => kind is >= TraceEventKind.FirstDeviceKind and <= TraceEventKind.LastDeviceKind;

    /// <summary>Kinds whose recorded data the replay feeds to the device instead of comparing.</summary>
    public static bool IsInput(TraceEventKind kind) => kind == TraceEventKind.DmaRead;
}

/// <summary>
/// A record kind a device defines for what only it knows (a driver-rule violation, samples handed to a sink):
/// its number (in [<see cref="TraceEventKind.FirstDeviceKind"/>, <see cref="TraceEventKind.LastDeviceKind"/>]),
/// a name for the tools, and its fields. A trace carries its device kinds, so any reader can decode them.
/// </summary>
/// <param name="Kind">The kind's number, in the device range; part of the trace format once recorded: never renumber.</param>
/// <param name="Name">The name tools show ("SinkData").</param>
/// <param name="Fields">The fields its records carry; the writer stores only these (never <see cref="TraceFields.Time"/>: a device record is not a unit).</param>
public sealed record DeviceRecordKind(TraceEventKind Kind, string Name, TraceFields Fields)
{
    /// <summary>A record of this kind, to pass to <see cref="FunctionObservation.Note"/>; set only the fields <see cref="Fields"/> names.</summary>
    /// <param name="a">Field A.</param>
    /// <param name="b">Field B.</param>
    /// <param name="c">Field C.</param>
    /// <param name="data">Field Data (not copied: valid while the record is).</param>
    /// <param name="text">Field Text (a short string).</param>
    /// <param name="detail">Field Detail (a longer string).</param>
    public TraceRecord Record(ulong a = 0, ulong b = 0, ulong c = 0, ReadOnlySpan<byte> data = default, string? text = null, string? detail = null) =>
        new(Kind, 0, a, b, c, data, text, detail);
}
