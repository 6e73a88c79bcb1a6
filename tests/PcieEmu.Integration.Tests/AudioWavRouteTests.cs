using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;
using PcieEmu.Devices.Audio.Wav;
using PcieEmu.Harness;

namespace PcieEmu.Integration.Tests;

/// <summary>The default card with both streams routed to WAV files on the host (spec §13 "wav:PATH").</summary>
public sealed class WavRouteGuest : GuestFixture
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("pcieemu-wav-route-").FullName;

    public string PlayedPath => Path.Combine(Directory, "played.wav");

    public string SourcePath => Path.Combine(Directory, "source.wav");

    protected override GuestSessionOptions Options => new()
    {
        Routes = new Dictionary<string, string> { ["playback0"] = $"wav:{PlayedPath}", ["capture0"] = $"wav:{SourcePath}" },
    };

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

/// <summary>
/// Routes chosen on the command line: playback into a WAV file (one file per run, in the run's format) and capture
/// from a WAV file (its frames looped, converted to the stream's format), end to end through aplay and arecord.
/// </summary>
public sealed class AudioWavRouteTests(WavRouteGuest guest) : IClassFixture<WavRouteGuest>
{
    [Fact]
    public async Task Aplay_writes_each_run_to_its_own_wav_file_in_the_runs_format()
    {
        var first = new AudioFormat(SampleFormat.S24Le, 96000, 2);
        var second = new AudioFormat(SampleFormat.FloatLe, 44100, 2);
        var firstSamples = AudioFiles.Samples(first, 24000, seed: 9201);
        var secondSamples = AudioFiles.Samples(second, 11025, seed: 9202);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "wav-1.raw"), firstSamples);
        await File.WriteAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, "wav-2.raw"), secondSamples);
        int runsBefore = guest.Audio.Streams[0].Runs.Count;

        await guest.Run($"{AudioFiles.Play("wav-1.raw", first)} && {AudioFiles.Play("wav-2.raw", second)}");

        guest.Audio.Streams[0].Runs.Should().HaveCount(runsBefore + 2, "two aplays are two RUNs");
        string firstFile = runsBefore == 0 ? guest.PlayedPath : Path.Combine(guest.Directory, $"played-{runsBefore}.wav");
        string secondFile = Path.Combine(guest.Directory, $"played-{runsBefore + 1}.wav");
        foreach (var (file, format, samples) in new[] { (firstFile, first, firstSamples), (secondFile, second, secondSamples) })
        {
            var written = WavReader.ReadAllFrames(file, out var fileFormat);
            fileFormat.Should().Be(format, $"{Path.GetFileName(file)} has its run's format");
            CardRuns.ShouldStartWith(written, samples, $"{Path.GetFileName(file)} holds what aplay played");
            written.Length.Should().Be(guest.Audio.Streams[0].Runs[runsBefore + Array.IndexOf([firstFile, secondFile], file)].Bytes.Length,
                "the file holds the whole run, as the card's own record of it");
        }
    }

    [Theory]
    [InlineData(SampleFormat.S16Le)]
    [InlineData(SampleFormat.FloatLe)]
    public async Task Arecord_gets_the_source_files_frames_looped_and_converted_to_its_format(SampleFormat recordFormat)
    {
        var fileFormat = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        const int loopFrames = 1000;
        const int frames = 3500; // three and a half loops
        var source = AudioFiles.Samples(fileFormat, loopFrames, seed: 9300);
        using (var writer = new WavWriter(guest.SourcePath, fileFormat))
        {
            writer.Write(source);
        }

        var format = new AudioFormat(recordFormat, 48000, 2);
        var loop = new byte[loopFrames * format.FrameBytes];
        SampleConversion.Convert(source, fileFormat, loop, format);
        var expected = new byte[frames * format.FrameBytes];
        for (int at = 0; at < expected.Length; at += loop.Length)
        {
            loop.AsSpan(0, Math.Min(loop.Length, expected.Length - at)).CopyTo(expected.AsSpan(at));
        }

        string file = $"wav-rec-{recordFormat}.raw";
        var run = await CardRuns.RunOnce(guest, 1, AudioFiles.Record(file, format, frames, periodFrames: 480), format, frames);

        var recorded = await File.ReadAllBytesAsync(Path.Combine(guest.Session.ShareDirectory, file));
        recorded.Should().HaveCount(expected.Length);
        CardRuns.ShouldStartWith(recorded, expected, $"arecord ({format}) gets frame n mod {loopFrames} of the file");
        CardRuns.ShouldStartWith(run.Bytes, expected, "what the card wrote");
    }
}
