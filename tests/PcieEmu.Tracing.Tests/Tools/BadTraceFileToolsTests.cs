using PcieEmu.Tracing.Format;
using PcieEmu.Tracing.Tools;

namespace PcieEmu.Tracing.Tests.Tools;

/// <summary>What `trace dump|stats|export` print as their one-line error (exit code 2) comes from these exceptions.</summary>
public class BadTraceFileToolsTests
{
    public static TheoryData<string> Tools => ["dump text", "dump json", "stats", "chrome"];

    [Theory]
    [MemberData(nameof(Tools))]
    public void A_truncated_trace_fails_naming_the_file_and_the_truncation(string tool)
    {
        using var trace = SyntheticTrace.Audio();
        byte[] bytes = File.ReadAllBytes(trace.Path);
        File.WriteAllBytes(trace.Path, bytes[..^5]);

        var run = () => Run(tool, trace.Path);

        run.Should().Throw<TraceFormatException>().Which.Message.Should().StartWith(trace.Path + ": truncated inside the chunk");
    }

    [Theory]
    [MemberData(nameof(Tools))]
    public void A_corrupt_chunk_fails_on_its_CRC(string tool)
    {
        using var trace = SyntheticTrace.Audio();
        byte[] bytes = File.ReadAllBytes(trace.Path);
        bytes[^3] ^= 0x40;
        File.WriteAllBytes(trace.Path, bytes);

        var run = () => Run(tool, trace.Path);

        run.Should().Throw<TraceFormatException>().WithMessage("*CRC mismatch (corrupt file)*");
    }

    [Theory]
    [MemberData(nameof(Tools))]
    public void A_file_that_is_not_a_trace_fails_before_any_output(string tool)
    {
        using var trace = new SyntheticTrace();
        trace.Complete();
        string other = Path.Combine(trace.Directory, "notes.txt");
        File.WriteAllText(other, "these are not the records you are looking for");

        var run = () => Run(tool, other);

        run.Should().Throw<TraceFormatException>().Which.Message.Should().Be($"{other}: not a pcieemu trace (bad magic)");
    }

    [Fact]
    public void A_missing_file_is_a_format_error_too()
    {
        string missing = Path.Combine(Path.GetTempPath(), "pcieemu-no-such-trace-" + Guid.NewGuid().ToString("n"));
        var run = () => TraceStatistics.Compute(missing);
        run.Should().Throw<TraceFormatException>().WithMessage($"{missing}: cannot open: *");
    }

    private static void Run(string tool, string path)
    {
        if (tool == "stats")
        {
            TraceStatistics.Compute(path);
            return;
        }

        using var reader = TraceReader.Open(path);
        switch (tool)
        {
            case "dump text":
                TraceDump.WriteText(reader, TextWriter.Null);
                break;
            case "dump json":
                TraceDump.WriteJson(reader, TextWriter.Null);
                break;
            default:
                ChromeTraceExport.Write(reader, Stream.Null);
                break;
        }
    }
}
