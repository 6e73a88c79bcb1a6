using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Models;
using PcieEmu.Harness;
using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Cli.Commands;

/// <summary>What `boot` and `demo` share: checking model files before anything starts, and starting the guest with a progress display.</summary>
internal static class GuestStart
{
    /// <summary>Most compiler lines a failed driver build prints below its one-line error; the rest are in the log.</summary>
    internal const int MaxCompilerLines = 60;

    /// <summary>Loads every model file; on the first bad one prints "<paramref name="verb"/>: why" and returns null.</summary>
    public static IReadOnlyList<CardModel>? LoadModels(string verb, IReadOnlyList<string> paths)
    {
        var models = new List<CardModel>();
        foreach (var path in paths)
        {
            if (TryLoad(verb, () => CardModelLoader.Load(path)) is not { } model)
            {
                return null;
            }

            models.Add(model);
        }

        return models;
    }

    /// <summary>Loads an audio card's model file (what `demo` and `bench stream` play through); if it is bad or not an audio card, prints why and returns null.</summary>
    public static AudioCardModel? LoadAudioModel(string verb, string path) => TryLoad(verb, () => CardModelLoader.LoadAudio(path));

    private static T? TryLoad<T>(string verb, Func<T> load)
        where T : CardModel
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is CardModelException or DirectoryNotFoundException or FileNotFoundException)
        {
            Console.Error.WriteLine($"{verb}: {e.Message}");
            return null;
        }
    }

    /// <summary>Provisions on demand and boots; on failure prints why ("<paramref name="verb"/>: …") and returns null.</summary>
    public static async Task<GuestSession?> StartAsync(string verb, GuestSessionOptions options, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        try
        {
            return await ProgressDisplay.RunAsync(verb, (p, messages) => GuestSession.StartAsync(options, loggers, p, messages, cancellationToken));
        }
        catch (Exception e) when (e is GuestSessionException or ProvisioningException or OperationCanceledException)
        {
            Console.Error.WriteLine($"{verb}: {(e is OperationCanceledException ? "timed out or interrupted while starting" : e.Message)}");
            if (e is DriverBuildException { Diagnostics.Count: > 0 } build)
            {
                PrintCompilerLines(build);
            }

            return null;
        }
    }

    /// <summary>Below the one-line error, the compiler's own lines (file:line:col with the user's paths), up to <see cref="MaxCompilerLines"/>.</summary>
    private static void PrintCompilerLines(DriverBuildException e)
    {
        foreach (string line in e.Diagnostics.Take(MaxCompilerLines))
        {
            Console.Error.WriteLine(line);
        }

        if (e.Diagnostics.Count > MaxCompilerLines)
        {
            Console.Error.WriteLine($"... {e.Diagnostics.Count - MaxCompilerLines} more lines in {e.LogPath}");
        }
    }
}
