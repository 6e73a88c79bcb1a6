using System.CommandLine;
using PcieEmu.Devices;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Checking;

namespace PcieEmu.Cli.Commands;

/// <summary>The driver checker's options, the same for serve and boot: rule severities and a JSON-lines file.</summary>
internal sealed class CheckerOptions
{
    public Option<string[]> Rules { get; } = new("--rule")
    {
        Description = "NAME=off|warning|violation, repeatable: how a driver-checker rule counts; warnings=violation promotes every warning (reserved bits, undecoded offsets, read-only registers)",
    };

    public Option<string?> JsonFile { get; } = new("--violations-json")
    {
        Description = "Write every driver-rule violation and warning as one JSON object per line into FILE (for CI)",
    };

    public IEnumerable<Option> All => [Rules, JsonFile];

    /// <summary>The policy the settings give, checked against the rules the models' cards know; null after printing why.</summary>
    public CheckerPolicy? Policy(ParseResult parse, string verb, IEnumerable<CardModel> models)
    {
        var known = models.SelectMany(CardFactory.RulesOf).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        return Policy(parse, verb, known);
    }

    /// <summary>The policy the settings give, checked against <paramref name="known"/> rule names; null after printing why.</summary>
    public CheckerPolicy? Policy(ParseResult parse, string verb, IReadOnlyCollection<string> known)
    {
        if (!CheckerPolicy.TryParse(parse.GetValue(Rules) ?? [], known, out var policy, out string error))
        {
            Console.Error.WriteLine($"{verb}: {error}");
            return null;
        }

        return policy;
    }

    /// <summary>Opens the JSON-lines file if one was asked for; false after printing why it cannot be written.</summary>
    public bool TryOpen(ParseResult parse, string verb, out ViolationLogFile? file)
    {
        file = null;
        if (parse.GetValue(JsonFile) is not { } path)
        {
            return true;
        }

        try
        {
            file = new ViolationLogFile(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            Console.Error.WriteLine($"{verb}: cannot write --violations-json {path}: {e.Message}");
            return false;
        }
    }
}
