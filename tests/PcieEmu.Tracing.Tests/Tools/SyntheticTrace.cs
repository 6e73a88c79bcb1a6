using PcieEmu.Devices.AudioCard;
using PcieEmu.Devices.Common;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Tests.Tools;

/// <summary>A trace file written record by record in a temporary folder, deleted on dispose.</summary>
public sealed class SyntheticTrace : IDisposable
{
    /// <summary>Capture listed first on purpose: the card numbers playback streams first (spec §9).</summary>
    public const string AudioModelJson = """
        { "card": "pcieemu-audio", "name": "Test Audio",
          "streams": [ { "name": "capture0", "direction": "capture" }, { "name": "playback0", "direction": "playback" } ] }
        """;

    private readonly string _directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pcieemu-tools-" + Guid.NewGuid().ToString("n"));
    private readonly TraceWriter _writer;

    public SyntheticTrace(string card = "pcieemu-audio", string modelJson = AudioModelJson)
    {
        System.IO.Directory.CreateDirectory(_directory);
        Path = System.IO.Path.Combine(_directory, "session.petrace");
        Header = new TraceHeader
        {
            Card = card,
            ModelName = "Test Audio",
            ModelJson = modelJson,
            ModelSha256 = TraceHeader.Sha256Of(modelJson),
            Routes = new Dictionary<string, string> { ["playback0"] = "memory" },
            RecordedAt = new DateTimeOffset(2025, 3, 4, 5, 6, 7, TimeSpan.Zero),
            Recorder = "pcieemu test",
            DeviceRecords = [.. AudioCardRecorder.Kinds.Select(DeviceRecordDeclaration.Of)],
        };
        _writer = new TraceWriter(Path, Header);
    }

    public string Path { get; }

    public string Directory => _directory;

    public TraceHeader Header { get; }

    public SyntheticTrace Unit(TraceEventKind kind, long time, ulong a = 0, ulong b = 0, ulong c = 0, byte[]? data = null)
    {
        _writer.Write(new TraceRecord(kind, time, a, b, c, data));
        return this;
    }

    public SyntheticTrace ReadData(params byte[] data)
    {
        _writer.Write(new TraceRecord(TraceEventKind.ReadData, data: data));
        return this;
    }

    public SyntheticTrace DmaRead(ulong address, int length, DmaResult result = DmaResult.Ok)
    {
        byte[] data = result == DmaResult.Ok ? Pattern(length) : [];
        _writer.Write(new TraceRecord(TraceEventKind.DmaRead, a: address, b: (ulong)length, c: (ulong)result, data: data));
        return this;
    }

    public SyntheticTrace DmaWrite(ulong address, int length, DmaResult result = DmaResult.Ok)
    {
        _writer.Write(new TraceRecord(TraceEventKind.DmaWrite, a: address, b: (ulong)length, c: (ulong)result, data: Pattern(length)));
        return this;
    }

    public SyntheticTrace Interrupt(IrqIndex index, ulong vector)
    {
        _writer.Write(new TraceRecord(TraceEventKind.Interrupt, a: (ulong)index, b: vector));
        return this;
    }

    public SyntheticTrace Sink(int stream, int bytes, ulong hash)
    {
        _writer.Write(AudioCardRecorder.SinkData.Record((ulong)stream, (ulong)bytes, hash));
        return this;
    }

    public SyntheticTrace StreamWork(int stream)
    {
        _writer.Write(new TraceRecord(TraceEventKind.Work, a: (ulong)stream));
        return this;
    }

    public SyntheticTrace Violation(string rule, string detail)
    {
        _writer.Write(CommonRecordKinds.Violation.Record(text: rule, detail: detail));
        return this;
    }

    /// <summary>Writes the End record; returns the file path.</summary>
    public string Complete()
    {
        _writer.Complete();
        return Path;
    }

    public void Dispose()
    {
        _writer.Dispose();
        try
        {
            System.IO.Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder fails nothing.
        }
    }

    /// <summary>
    /// The audio trace most tests read (times in ns; duration 10 000 ns from the first unit to the last):
    /// <code>
    ///  0  1500  DmaMap 0x10000+0x10000 ReadWrite shared
    ///  1  2000  BarWrite BAR0+0x1004 (stream 0 SD_CTL) = 01 00 00 00
    ///  2          DmaRead 0x20000 (16 B) Ok              (descriptor list, in stream 0's unit)
    ///  3  3000  BarRead BAR0+0x24 (INTSTS, 4 B)
    ///  4          -> 00 00 01 00
    ///  5  5000  EngineStep
    ///  6          DmaRead 0x30000 (256 B) Ok            (claimed by the SinkData after it)
    ///  7          SinkData stream 0: 256 B
    ///  8          DmaWrite 0x40000 (16 B) Ok
    ///  9          Interrupt Msix vector 1
    /// 10          DmaWrite 0x50000 (64 B) Ok
    /// 11          Interrupt Msix vector 2
    /// 12  6000  EngineStep
    /// 13          DmaRead 0x31000 (128 B) Unmapped
    /// 14          Violation StreamUnmapped
    /// 15  9000  ConfigRead +0x004 (2 B)
    /// 16          -> 06 04
    /// 17 11500  BarWrite BAR2+0x10 = 00 00 e0 fe
    /// 18 11500  BarRead BAR0+0x1108 (stream 1 SD_STS, 4 B)
    /// 19          -> 04 00 00 00
    /// </code>
    /// </summary>
    public static SyntheticTrace Audio()
    {
        var t = new SyntheticTrace();
        t.Unit(TraceEventKind.DmaMap, 1500, 0x10000, 0x10000, (ulong)DmaAccess.ReadWrite | DmaController.LocalBackingFlag)
            .Unit(TraceEventKind.BarWrite, 2000, 0, 0x1004, data: [1, 0, 0, 0]).DmaRead(0x20000, 16)
            .Unit(TraceEventKind.BarRead, 3000, 0, 0x24, 4).ReadData(0, 0, 1, 0)
            .Unit(TraceEventKind.SchedulerStep, 5000)
            .DmaRead(0x30000, 256).Sink(0, 256, 0x0123_4567_89ab_cdef).DmaWrite(0x40000, 16).Interrupt(IrqIndex.Msix, 1)
            .DmaWrite(0x50000, 64).Interrupt(IrqIndex.Msix, 2)
            .Unit(TraceEventKind.SchedulerStep, 6000).DmaRead(0x31000, 128, DmaResult.Unmapped).Violation("StreamUnmapped", "buffer DMA at frame 0: Unmapped")
            .Unit(TraceEventKind.ConfigRead, 9000, 4, 2).ReadData(6, 4)
            .Unit(TraceEventKind.BarWrite, 11500, 2, 0x10, data: [0, 0, 0xe0, 0xfe])
            .Unit(TraceEventKind.BarRead, 11500, 0, 0x1108, 4).ReadData(4, 0, 0, 0);
        t.Complete();
        return t;
    }

    private static byte[] Pattern(int length) => [.. Enumerable.Range(0, length).Select(i => (byte)(i * 7))];
}
