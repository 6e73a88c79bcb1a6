using System.Globalization;
using PcieEmu.Pci;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;

namespace PcieEmu.Tracing.Format;

/// <summary>One line per record for people: `trace dump`, divergence reports and test messages all use it.</summary>
internal static class TraceEventText
{
    /// <summary>Seconds with nanosecond digits.</summary>
    public static string Seconds(long nanoseconds) =>
        (nanoseconds / 1e9).ToString("0.000000000", CultureInfo.InvariantCulture);

    /// <summary>"  1234  12.345678901  BarWrite BAR0+0x104 = 02 00 00 00" (units carry the time, nested records indent).</summary>
    public static string Line(TraceEvent e, RecordSchema? schema = null) =>
        string.Create(CultureInfo.InvariantCulture, $"{e.Index,8}  {(e.IsUnit ? Seconds(e.Time) : ""),14}  {(e.IsUnit ? "" : "  ")}{Describe(e.ToRecord(), schema)}");

    /// <summary>What a record says, without index and time (device kinds by the trace's <paramref name="schema"/>).</summary>
    public static string Describe(in TraceRecord r, RecordSchema? schema = null) => r.Kind switch
    {
        TraceEventKind.ConfigRead => Invariant($"ConfigRead +0x{r.A:x3} ({r.B} B)"),
        TraceEventKind.ConfigWrite => Invariant($"ConfigWrite +0x{r.A:x3} = {Hex(r.Data)}"),
        TraceEventKind.BarRead => Invariant($"BarRead BAR{r.A}+0x{r.B:x} ({r.C} B)"),
        TraceEventKind.BarWrite => Invariant($"BarWrite BAR{r.A}+0x{r.B:x} = {Hex(r.Data)}"),
        TraceEventKind.RomRead => Invariant($"RomRead +0x{r.A:x} ({r.B} B)"),
        TraceEventKind.Reset => Invariant($"Reset {TraceValueNames.Of<ResetKind>(r.A)}"),
        TraceEventKind.DmaMap => Invariant($"DmaMap 0x{r.A:x}+0x{r.B:x} {TraceValueNames.Of<DmaAccess>(r.C & 3)}{((r.C & DmaController.LocalBackingFlag) != 0 ? " shared" : " message")}"),
        TraceEventKind.DmaUnmap => Invariant($"DmaUnmap 0x{r.A:x}+0x{r.B:x}"),
        TraceEventKind.DmaUnmapAll => "DmaUnmapAll",
        TraceEventKind.IrqAssign => Invariant($"IrqAssign {TraceValueNames.Of<IrqIndex>(r.A)} from {r.B}: {string.Join("", r.Data.ToArray().Select(b => b != 0 ? '1' : '0'))}"),
        TraceEventKind.IrqDisable => Invariant($"IrqDisable {TraceValueNames.Of<IrqIndex>(r.A)}"),
        TraceEventKind.IrqMask => Invariant($"Irq{((r.C >> 32) != 0 ? "Mask" : "Unmask")} {TraceValueNames.Of<IrqIndex>(r.A)} [{r.B}, +{r.C & 0xFFFF_FFFF})"),
        TraceEventKind.IrqInject => Invariant($"IrqInject {TraceValueNames.Of<IrqIndex>(r.A)} vector {r.B}"),
        TraceEventKind.IrqRelease => "IrqRelease",
        TraceEventKind.SchedulerStep => "SchedulerStep",
        TraceEventKind.ReadData => Invariant($"-> {Hex(r.Data)}"),
        TraceEventKind.DmaRead => Invariant($"DmaRead 0x{r.A:x} ({r.B} B) {TraceValueNames.Of<DmaResult>(r.C)}{(r.Data.IsEmpty ? "" : ": " + Hex(r.Data))}"),
        TraceEventKind.DmaWrite => Invariant($"DmaWrite 0x{r.A:x} ({r.Data.Length} B) {TraceValueNames.Of<DmaResult>(r.C)}: {Hex(r.Data)}"),
        TraceEventKind.Interrupt => Invariant($"Interrupt {TraceValueNames.Of<IrqIndex>(r.A)} vector {r.B}"),
        TraceEventKind.Work => Invariant($"Work {r.A}"),
        TraceEventKind.End => Invariant($"End ({r.A} records)"),
        _ => DescribeDeviceRecord(r, schema),
    };

    /// <summary>A device kind: the audio card's and the common ones read naturally, any other by its declared fields.</summary>
    private static string DescribeDeviceRecord(in TraceRecord r, RecordSchema? schema)
    {
        string name = schema?.NameOf(r.Kind) ?? Invariant($"kind {(byte)r.Kind}");
        var fields = schema?.FieldsOf(r.Kind) ?? TraceFields.None;
        return name switch
        {
            "Violation" => $"Violation {r.Text}: {r.Detail}",
            "SinkData" => Invariant($"SinkData stream {r.A}: {r.B} B, hash {r.C:x16}"),
            _ => name
                + ((fields & TraceFields.A) != 0 ? Invariant($" a=0x{r.A:x}") : "")
                + ((fields & TraceFields.B) != 0 ? Invariant($" b=0x{r.B:x}") : "")
                + ((fields & TraceFields.C) != 0 ? Invariant($" c=0x{r.C:x}") : "")
                + ((fields & TraceFields.Data) != 0 ? " " + Hex(r.Data) : "")
                + ((fields & TraceFields.Text) != 0 ? " " + r.Text : "")
                + ((fields & TraceFields.Detail) != 0 ? ": " + r.Detail : ""),
        };
    }

    /// <summary>Up to 16 bytes in hex, then how many more.</summary>
    public static string Hex(ReadOnlySpan<byte> data)
    {
        const int Shown = 16;
        string head = Convert.ToHexString(data[..Math.Min(Shown, data.Length)]).ToLowerInvariant();
        var spaced = string.Join(' ', Enumerable.Range(0, head.Length / 2).Select(i => head.Substring(i * 2, 2)));
        return data.Length > Shown ? Invariant($"{spaced} … (+{data.Length - Shown} B)") : spaced;
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
