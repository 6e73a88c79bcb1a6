using System.Text.RegularExpressions;
using PcieEmu.Harness;
using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Integration.Tests;

/// <summary>
/// The harness side of user drivers (GuestSessionOptions.Drivers), under the real QEMU: the builds, their progress
/// steps and messages, the load order, and a module whose init fails named with the guest's reason.
/// </summary>
public sealed partial class UserDriverSessionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pcieemu-user-session-").FullName;
    private readonly List<ProvisionStep> _steps = [];

    public void Dispose()
    {
        // The cache entries this test's builds made (unique sources, so nobody else's).
        foreach (var step in _steps)
        {
            if (BuildStep().Match(step.Text) is { Success: true } m && Directory.Exists(m.Groups["entry"].Value))
            {
                Directory.Delete(m.Groups["entry"].Value, recursive: true);
            }
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_session_builds_its_drivers_loads_them_after_ours_and_names_the_one_whose_init_failed()
    {
        string tag = Guid.NewGuid().ToString("N");
        string hello = Fixture("hello", "hello.c", s => s.Replace("\"hello from a user driver\"", $"\"session {tag}\"", StringComparison.Ordinal));
        string refuser = Fixture("refuser", "refuser.c", s => s.Replace("\treturn 0;", "\treturn -ENODEV;", StringComparison.Ordinal) + $"/* {tag} */\n");
        await File.WriteAllTextAsync(Path.Combine(refuser, "Kbuild"), "obj-m := refuser.o\n");
        var messages = new List<string>();

        await using var session = await GuestSession.StartAsync(new GuestSessionOptions { Drivers = [hello, refuser] }, GuestFixture.Loggers,
            new Synchronous<ProvisionStep>(_steps.Add), new Synchronous<string>(messages.Add));

        session.DriverBuilds.Select(b => (b.SourceDirectory, b.Modules.Single().Name, b.Cached)).Should().Equal((hello, "hello", false), (refuser, "refuser", false));
        _steps.Select(s => s.Count).Distinct().Should().ContainSingle("the step count is known from the start");
        _steps.Select(s => s.Index).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        _steps[^1].Index.Should().Be(_steps[^1].Count);
        _steps.Should().Contain(s => s.Text.StartsWith("driver hello: building against " + session.Artifacts.KernelAbi, StringComparison.Ordinal))
            .And.Contain(s => s.Text.StartsWith("driver refuser: building against ", StringComparison.Ordinal));
        messages.Should().Contain(m => m.StartsWith($"driver {hello}: built hello.ko in ", StringComparison.Ordinal));

        session.DriversToLoad.Should().Equal("pcieemu_audio", "hello", "refuser");
        session.Agent.LoadedDrivers.Should().Equal("pcieemu_audio", "hello");
        session.DriverLoadFailures().Should().ContainSingle()
            .Which.Should().StartWith("refuser: insmod /lib/modules/pcieemu/refuser.ko failed:").And.Contain("No such device");
        (await session.RunCheckedAsync("dmesg | grep pcieemu-hello:")).Should().Contain($"pcieemu-hello: loaded: session {tag}");
    }

    private string Fixture(string name, string source, Func<string, string> edit)
    {
        string dir = Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;
        string fixture = Path.Combine(AppContext.BaseDirectory, "Drivers", "hello");
        File.Copy(Path.Combine(fixture, "Kbuild"), Path.Combine(dir, "Kbuild"));
        string text = File.ReadAllText(Path.Combine(fixture, "hello.c"));
        string edited = edit(text);
        edited.Should().NotBe(text);
        File.WriteAllText(Path.Combine(dir, source), edited);
        return dir;
    }

    [GeneratedRegex(@"building against \S+ into (?<entry>\S+/user-drivers/[0-9a-f]{16})$")]
    private static partial Regex BuildStep();

    /// <summary>Reports on the caller's thread, in order.</summary>
    private sealed class Synchronous<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
