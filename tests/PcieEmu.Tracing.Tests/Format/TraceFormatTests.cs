using System.Text;
using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Tests.Replay;

namespace PcieEmu.Tracing.Tests.Format;

/// <summary>The file format itself (TRACE-FORMAT.md "File layout"): what is written is read back exactly, and checked.</summary>
public sealed class TraceFormatTests
{
    private static readonly TraceHeader Header = new()
    {
        Card = "pcieemu-audio",
        ModelName = "test",
        ModelJson = "{\"name\":\"test\"}",
        ModelSha256 = TraceHeader.Sha256Of("{\"name\":\"test\"}"),
        Routes = new Dictionary<string, string> { ["capture0"] = "tone:440" },
        DeviceRecords =
        [
            new DeviceRecordDeclaration(64, "Everything", ["A", "B", "C", "Data", "Text", "Detail"]),
            new DeviceRecordDeclaration(127, "Marker", []),
        ],
    };

    [Fact]
    public void Every_kind_with_extreme_values_reads_back_exactly()
    {
        using var temp = new TempFolder();
        string path = temp.File("all.petrace");
        var big = Enumerable.Range(0, 200_000).Select(i => (byte)(i * 31)).ToArray(); // larger than a chunk
        var records = new List<TraceEvent>();
        long time = 0;
        var schema = Header.Schema();
        var kinds = Enum.GetValues<TraceEventKind>().Where(k => k != TraceEventKind.End && TraceSchema.FieldsOf(k) is not null)
            .Concat(schema.DeviceKinds.Select(d => d.Kind));
        foreach (var kind in kinds)
        {
            time += kind == TraceEventKind.ConfigRead ? long.MaxValue / 4 : 7;
            records.Add(new TraceEvent
            {
                Index = records.Count,
                Kind = kind,
                Time = TraceSchema.IsUnit(kind) ? time : 0,
                A = ulong.MaxValue,
                B = 0,
                C = 1UL << 63,
                Data = kind == TraceEventKind.DmaRead ? big : [1, 2, 3],
                Text = "rule ✓",
                Detail = "",
            });
        }

        using (var writer = new TraceWriter(path, Header))
        {
            foreach (var r in records)
            {
                writer.Write(r.ToRecord());
            }

            writer.Complete();
            writer.Records.Should().Be(records.Count + 1, "the End record counts");
        }

        using var reader = TraceReader.Open(path);
        reader.Header.Should().BeEquivalentTo(Header, o => o.Excluding(h => h.RecordedAt));
        var read = new List<TraceEvent>();
        while (reader.TryRead(out var e))
        {
            read.Add(e);
        }

        reader.Ended.Should().BeTrue();
        read.Should().HaveCount(records.Count);
        long lastUnitTime = 0;
        for (int i = 0; i < records.Count; i++)
        {
            var fields = schema.FieldsOf(records[i].Kind)!.Value;
            var e = read[i];
            e.Kind.Should().Be(records[i].Kind);
            e.Index.Should().Be(i);
            lastUnitTime = e.IsUnit ? records[i].Time : lastUnitTime;
            e.Time.Should().Be(lastUnitTime, "nested records carry their unit's time");
            e.A.Should().Be((fields & TraceFields.A) != 0 ? ulong.MaxValue : 0);
            e.C.Should().Be((fields & TraceFields.C) != 0 ? 1UL << 63 : 0);
            e.Data.Should().Equal((fields & TraceFields.Data) != 0 ? records[i].Data : []);
            e.Text.Should().Be((fields & TraceFields.Text) != 0 ? "rule ✓" : null);
            e.Detail.Should().Be((fields & TraceFields.Detail) != 0 ? "" : null);
        }
    }

    [Theory]
    [InlineData(0UL, 1)]
    [InlineData(127UL, 1)]
    [InlineData(128UL, 2)]
    [InlineData(ulong.MaxValue, 10)]
    public void Varints_round_trip_at_their_length_boundaries(ulong value, int length)
    {
        Span<byte> buffer = stackalloc byte[TraceFormat.MaxVarintBytes];
        TraceFormat.WriteVarint(buffer, value).Should().Be(length);
        int at = 0;
        TraceFormat.TryReadVarint(buffer[..length], ref at, out ulong back).Should().BeTrue();
        back.Should().Be(value);
        at.Should().Be(length);
        at = 0;
        TraceFormat.TryReadVarint(buffer[..(length - 1)], ref at, out _).Should().BeFalse("a cut varint is an error, not a value");
    }

    [Fact]
    public void An_eleven_byte_varint_is_refused()
    {
        var bytes = Enumerable.Repeat((byte)0xFF, 10).Append((byte)0x01).ToArray();
        int at = 0;
        TraceFormat.TryReadVarint(bytes, ref at, out _).Should().BeFalse();
    }

    [Fact]
    public void The_hardware_crc_equals_the_scalar_reference_and_the_castagnoli_check_value()
    {
        Crc32.Compute("123456789"u8).Should().Be(0xE306_9283, "the CRC-32C check value");
        Crc32.ComputeScalar("123456789"u8).Should().Be(0xE306_9283);
        var random = new Random(5);
        for (int length = 0; length < 300; length += 7)
        {
            var data = new byte[length];
            random.NextBytes(data);
            Crc32.Compute(data).Should().Be(Crc32.ComputeScalar(data), $"length {length}");
        }

        // Lengths around and past the three-chain loop's 3 × 4 KiB groups, including unaligned tails.
        foreach (int length in new[] { 12287, 12288, 12289, 24576 + 5, 65536, 200_003 })
        {
            var data = new byte[length];
            random.NextBytes(data);
            Crc32.Compute(data).Should().Be(Crc32.ComputeScalar(data), $"length {length}");
        }
    }

    [Fact]
    public void A_header_whose_model_does_not_match_its_hash_is_corrupt()
    {
        using var temp = new TempFolder();
        string path = temp.File("hash.petrace");
        using (var writer = new TraceWriter(path, Header with { ModelJson = "{\"name\":\"other\"}" }))
        {
            writer.Complete();
        }

        var act = () => TraceReader.Open(path);

        act.Should().Throw<TraceFormatException>().WithMessage("*does not match its SHA-256*");
    }

    [Fact]
    public void A_file_that_stops_after_the_header_is_truncated_and_says_so()
    {
        using var temp = new TempFolder();
        string path = temp.File("open.petrace");
        var stream = new MemoryStream();
        using var writer = new TraceWriter(stream, Header); // disposed (completed) only after the copy below
        writer.Write(new TraceRecord(TraceEventKind.SchedulerStep, 5));
        // Never completed: what a killed server leaves (the header is written at once).
        File.WriteAllBytes(path, stream.ToArray());

        using var reader = TraceReader.Open(path);
        var act = () => reader.TryRead(out _);

        act.Should().Throw<TraceFormatException>().WithMessage("*truncated after 0 records: no End record*");
    }

    [Fact]
    public async Task A_recorder_that_is_never_completed_still_leaves_its_records_on_disk_after_the_flush_interval()
    {
        using var temp = new TempFolder();
        string path = temp.File("killed.petrace");
        using var writer = new TraceWriter(path, Header); // completed at the end, or at once if an assertion fails
        long headerBytes = writer.Bytes;
        writer.Write(new TraceRecord(TraceEventKind.SchedulerStep, 5));
        writer.Write(new TraceRecord(TraceEventKind.Interrupt, a: 2, b: 1));

        for (int i = 0; i < 250 && new FileInfo(path).Length <= headerBytes; i++)
        {
            await Task.Delay(20);
        }

        // As a killed process would leave it: read what is on disk now, the writer still open.
        using var reader = TraceReader.Open(new MemoryStream(await File.ReadAllBytesAsync(path)), path);
        reader.TryRead(out var step).Should().BeTrue("the partly filled chunk was written after " + TraceWriter.FlushInterval);
        step.Kind.Should().Be(TraceEventKind.SchedulerStep);
        reader.TryRead(out var irq).Should().BeTrue();
        irq.Kind.Should().Be(TraceEventKind.Interrupt);
        var act = () => reader.TryRead(out _);
        act.Should().Throw<TraceFormatException>().Which.Truncated.Should().BeTrue();
        writer.Complete();
    }

    [Fact]
    public void Data_after_the_end_record_is_refused()
    {
        using var temp = new TempFolder();
        string path = temp.File("tail.petrace");
        using (var writer = new TraceWriter(path, Header))
        {
            writer.Write(new TraceRecord(TraceEventKind.SchedulerStep, 5));
            writer.Complete();
        }

        File.AppendAllText(path, "junk", Encoding.ASCII);

        var act = () => TraceReader.ReadAll(path).ToList();

        act.Should().Throw<TraceFormatException>().WithMessage("*after the End record*");
    }
}
