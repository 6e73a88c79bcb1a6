using System.Text.RegularExpressions;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Pci.Checking;

namespace PcieEmu.Devices.Tests;

/// <summary>
/// The spec's driver-checker catalogue (README §14) agrees with the code: every seeded bug of the reference driver is
/// listed with a rule the card has and a guest test that exists, every rule of the card is listed, and there are at
/// least fifteen seeded bugs.
/// </summary>
public sealed partial class CheckerCatalogueTests
{
    private static readonly string Spec = File.ReadAllText(Path.Combine(Repo.ModelsDir, "pcieemu-audio", "README.md"));

    private static IReadOnlyList<DriverRule> AllRules => [.. FunctionRules.All, .. AudioRules.All];

    [Fact]
    public void Every_seeded_driver_bug_is_in_the_catalogue_and_every_catalogue_bug_is_in_the_driver()
    {
        var driver = DriverFaults();
        var catalogue = SeededBugs().Select(b => b.Fault).ToList();

        driver.Should().NotContain("none");
        catalogue.Should().BeEquivalentTo(driver, "README §14.1 lists exactly the driver's fault switches");
        catalogue.Should().OnlyHaveUniqueItems();
        catalogue.Count.Should().BeGreaterThanOrEqualTo(15, "the catalogue has at least fifteen seeded driver bugs");
    }

    [Fact]
    public void Each_seeded_bug_names_a_rule_of_the_card_and_a_guest_test_that_exists()
    {
        var names = AllRules.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        var sources = Directory.GetFiles(Path.Combine(Repo.Root, "tests", "PcieEmu.Integration.Tests"), "*.cs")
            .ToDictionary(f => f, File.ReadAllText);
        foreach (var bug in SeededBugs())
        {
            names.Should().Contain(bug.Rule, $"fault {bug.Fault}'s rule must be one the card reports");
            var (cls, method) = (bug.Test.Split('.')[0], bug.Test.Split('.')[1]);
            sources.Values.Should().Contain(s => s.Contains($"class {cls}(", StringComparison.Ordinal) && s.Contains($" {method}(", StringComparison.Ordinal),
                $"fault {bug.Fault}'s test {bug.Test} must exist");
            sources.Values.Should().Contain(s => s.Contains($"\"{bug.Fault}\"", StringComparison.Ordinal), $"a guest test switches on fault {bug.Fault}");
        }
    }

    [Fact]
    public void Every_rule_the_card_checks_is_in_the_rule_table()
    {
        string table = Section("### 14.2", null);
        foreach (var rule in AllRules)
        {
            bool listed = table.Contains($"`{rule.Name}`", StringComparison.Ordinal)
                || (rule.Name.StartsWith("Stream", StringComparison.Ordinal) && table.Contains("`Stream<CODE>`", StringComparison.Ordinal) && IsErrcodeRule(rule.Name, "Stream"))
                || (rule.Name.StartsWith("Dma", StringComparison.Ordinal) && table.Contains("`Dma<CODE>`", StringComparison.Ordinal) && IsErrcodeRule(rule.Name, "Dma"));
            listed.Should().BeTrue($"rule {rule.Name} must be in README §14.2");
        }
    }

    [Fact]
    public void The_rules_name_spec_sections_and_what_the_driver_should_have_done()
    {
        foreach (var rule in AllRules)
        {
            rule.Section.Should().NotBeNullOrWhiteSpace(rule.Name);
            rule.Expected.Should().NotBeNullOrWhiteSpace(rule.Name);
        }

        AllRules.Select(r => r.Name).Should().OnlyHaveUniqueItems();
    }

    private static bool IsErrcodeRule(string name, string prefix) =>
        Enum.TryParse<AudioDmaErr>(name[prefix.Length..], out var code) && code is not AudioDmaErr.None and not AudioDmaErr.Transport;

    private static List<string> DriverFaults()
    {
        string card = File.ReadAllText(Path.Combine(Repo.Root, "qemu", "drivers", "pcieemu_audio", "pcieemu_audio_card.c"));
        int start = card.IndexOf("pea_fault_names[PEA_FAULT_COUNT] = {", StringComparison.Ordinal);
        int end = card.IndexOf("};", start, StringComparison.Ordinal);
        return [.. FaultName().Matches(card[start..end]).Select(m => m.Groups[1].Value).Where(n => n != "none")];
    }

    private static List<(string Fault, string Rule, string Test)> SeededBugs()
    {
        string table = Section("### 14.1", "### 14.2");
        var rows = new List<(string, string, string)>();
        foreach (var line in table.Split('\n').Where(l => l.StartsWith("| `", StringComparison.Ordinal)))
        {
            var cells = line.Split('|', StringSplitOptions.TrimEntries);
            rows.Add((cells[1].Trim('`'), Ticked().Match(cells[3]).Groups[1].Value, cells[5].Trim('`')));
        }

        return rows;
    }

    private static string Section(string heading, string? next)
    {
        int a = Spec.IndexOf(heading, StringComparison.Ordinal);
        a.Should().BeGreaterThanOrEqualTo(0, $"README has {heading}");
        int b = next is null ? Spec.Length : Spec.IndexOf(next, a, StringComparison.Ordinal);
        return Spec[a..b];
    }

    [GeneratedRegex(@"=\s*""([a-z_]+)""")]
    private static partial Regex FaultName();

    [GeneratedRegex(@"`([A-Za-z]+)`")]
    private static partial Regex Ticked();
}
