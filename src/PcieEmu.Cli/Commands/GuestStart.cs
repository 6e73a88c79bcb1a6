using Microsoft.Extensions.Logging;
using PcieEmu.Devices.Models;
using PcieEmu.Harness;
using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Cli.Commands;

/// <summary>What `boot` and `demo` share: checking model files before anything starts, and starting the guest with a progress display.</summary>
internal static class GuestStart
{
    /// <summary>Loads every model file; on the first bad one prints "<paramref name="verb"/>: why" and returns null.</summary>
    public static IReadOnlyList<CardModel>? LoadModels(string verb, IReadOnlyList<string> paths)
    {
        var models = new List<CardModel>();
        foreach (var path in paths)
        {
            try
            {
                models.Add(CardModelLoader.Load(path));
            }
            catch (Exception e) when (e is CardModelException or DirectoryNotFoundException or FileNotFoundException)
            {
                Console.Error.WriteLine($"{verb}: {e.Message}");
                return null;
            }
        }

        return models;
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
            return null;
        }
    }
}
