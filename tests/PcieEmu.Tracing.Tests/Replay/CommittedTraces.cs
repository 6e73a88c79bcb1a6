using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Tests.Replay;

/// <summary>The traces recorded from real guest sessions (tests/PcieEmu.Integration.Tests/TraceRecordingTests.cs).</summary>
internal static class CommittedTraces
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Traces");

    public static string PathOf(string name) => Path.Combine(Directory, name + ".petrace");

    public static TheoryData<string> All() => ["probe", "playback", "capture", "volume"];

    /// <summary>Writes a copy of <paramref name="source"/> with every record passed through <paramref name="edit"/> (null drops it).</summary>
    public static string Rewrite(string source, string destination, Func<TraceEvent, TraceEvent?> edit)
    {
        using var reader = TraceReader.Open(source);
        using (var writer = new TraceWriter(destination, reader.Header))
        {
            while (reader.TryRead(out var e))
            {
                if (edit(e) is { } kept)
                {
                    writer.Write(kept.ToRecord());
                }
            }

            writer.Complete();
        }

        return destination;
    }
}

/// <summary>A temporary folder removed with the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Directory.CreateTempSubdirectory("pcieemu-tracing-test-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => System.IO.Directory.Delete(Path, recursive: true);
}
