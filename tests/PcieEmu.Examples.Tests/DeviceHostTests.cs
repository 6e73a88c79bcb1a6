using PcieEmu.Examples.Edu;
using PcieEmu.Hosting;

namespace PcieEmu.Examples.Tests;

/// <summary>DeviceHost's verbs fail fast on bad input, before any provisioning, QEMU or socket.</summary>
public sealed class DeviceHostTests
{
    [Fact]
    public async Task Boot_with_a_driver_directory_that_does_not_exist_is_bad_usage()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"no-driver-{Guid.NewGuid():N}");

        int exit = await DeviceHost.RunAsync(["boot", "--driver", missing, "--exec", "true"], EduDevice.Type);

        exit.Should().Be(2);
    }

    [Fact]
    public async Task Replay_of_a_file_that_is_not_a_trace_is_bad_usage()
    {
        string path = Path.Combine(Path.GetTempPath(), $"not-a-trace-{Guid.NewGuid():N}.petrace");
        await File.WriteAllTextAsync(path, "not a trace");
        try
        {
            int exit = await DeviceHost.RunAsync(["replay", path], EduDevice.Type);

            exit.Should().Be(2);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task An_unknown_verb_is_a_parse_error()
    {
        int exit = await DeviceHost.RunAsync(["frobnicate"], EduDevice.Type);

        exit.Should().NotBe(0);
    }
}
