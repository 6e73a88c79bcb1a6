namespace PcieEmu.Pci.Tracing;

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
    EngineStep = 15,
    WorkerJob = 16,

    /// <summary>The bytes a read unit returned to the bus (output).</summary>
    ReadData = 32,

    /// <summary>A device read of guest memory: the address, result and bytes read (input on replay).</summary>
    DmaRead = 33,

    /// <summary>A device write into guest memory with the bytes written (output).</summary>
    DmaWrite = 34,

    /// <summary>An interrupt signalled to the client (output).</summary>
    Interrupt = 35,

    /// <summary>A driver-rule violation the device recorded (output).</summary>
    Violation = 36,

    /// <summary>Samples a device handed to a host-side sink: length and hash (output).</summary>
    SinkData = 37,

    /// <summary>
    /// The device's engine starts moving one stream's frames (output): the DMA and sink records after it, up to the
    /// next StreamWork or unit, are that stream's. Tools put them on the stream's timeline.
    /// </summary>
    StreamWork = 38,

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

public static class TraceSchema
{
    /// <summary>The fields of <paramref name="kind"/>, or null for a kind this format version does not know.</summary>
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
        TraceEventKind.EngineStep => TraceFields.Time,
        TraceEventKind.WorkerJob => TraceFields.Time,
        TraceEventKind.ReadData => TraceFields.Data,
        TraceEventKind.DmaRead => TraceFields.A | TraceFields.B | TraceFields.C | TraceFields.Data,
        TraceEventKind.DmaWrite => TraceFields.A | TraceFields.C | TraceFields.Data,
        TraceEventKind.Interrupt => TraceFields.A | TraceFields.B,
        TraceEventKind.Violation => TraceFields.Text | TraceFields.Detail,
        TraceEventKind.SinkData => TraceFields.A | TraceFields.B | TraceFields.C,
        TraceEventKind.StreamWork => TraceFields.A,
        TraceEventKind.End => TraceFields.A,
        _ => null,
    };

    public static bool IsUnit(TraceEventKind kind) => kind is >= TraceEventKind.ConfigRead and <= TraceEventKind.WorkerJob;

    /// <summary>Kinds whose recorded data the replay feeds to the device instead of comparing.</summary>
    public static bool IsInput(TraceEventKind kind) => kind == TraceEventKind.DmaRead;
}
