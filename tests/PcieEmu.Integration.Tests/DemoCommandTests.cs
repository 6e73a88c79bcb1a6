namespace PcieEmu.Integration.Tests;

/// <summary>`pcieemu demo`, the README's main job, run as a user runs it: a process, its exit code and its output.</summary>
public sealed class DemoCommandTests
{
    [Fact]
    public async Task Demo_boots_plays_records_and_exits_0_with_a_table_of_bit_exact_rows()
    {
        string output = Directory.CreateTempSubdirectory("pcieemu-demo-cli-").FullName;
        try
        {
            var (exit, stdout, stderr) = await CliProcess.RunAsync(TimeSpan.FromMinutes(15), "demo", "--seconds", "0.25", "--out", output);

            exit.Should().Be(0, $"every sample matched\nstdout:\n{stdout}\nstderr:\n{stderr}");
            stdout.Should().Contain("demo: every sample matched");
            foreach (var format in new[] { "S16_LE 44.1k 2ch", "S24_LE 48k 2ch", "S32_LE 96k 2ch", "FLOAT_LE 192k 2ch" })
            {
                stdout.Split('\n').Should().ContainSingle(l => l.Contains(format, StringComparison.Ordinal) && l.Contains("bit-exact", StringComparison.Ordinal),
                    $"one bit-exact row for {format}");
            }

            stdout.Should().Contain(output, "the table says where the WAV files are");
            Directory.GetFiles(output, "*.wav").Should().HaveCount(12, "three WAV files per format");
            stderr.Should().Contain("[4/4] demo:", "progress is shown while the person waits");
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public async Task Demo_with_a_bad_model_file_exits_2_naming_the_file_before_booting_anything()
    {
        string bad = Path.Combine(Directory.CreateTempSubdirectory("pcieemu-demo-cli-").FullName, "broken.json");
        await File.WriteAllTextAsync(bad, "{ \"card\": ");

        var (exit, _, stderr) = await CliProcess.RunAsync(TimeSpan.FromMinutes(2), "demo", "--model", bad);

        exit.Should().Be(2);
        stderr.Should().Contain("demo: ").And.Contain("broken.json");
        stderr.Should().NotContain("starting the card server", "nothing boots with a bad model");
    }
}
