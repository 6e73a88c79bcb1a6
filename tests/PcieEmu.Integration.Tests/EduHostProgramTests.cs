namespace PcieEmu.Integration.Tests;

/// <summary>
/// The example's own host program (src/examples/EduDevice/Program.cs, one line over DeviceHost) as a user runs
/// it: `edu-device boot --driver DIR --exec … --trace DIR` boots the guest with the device and its driver and records
/// the session, and `edu-device replay` replays the recording without QEMU.
/// </summary>
public sealed class EduHostProgramTests
{
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "edu-device.dll");

    [Fact]
    public async Task Serve_listens_records_and_stops_on_SIGTERM()
    {
        string folder = Directory.CreateTempSubdirectory("pcieemu-edu-serve-").FullName;
        try
        {
            string trace = Path.Combine(folder, "serve.petrace");
            using (var serve = ServeProcess.Start(Path.Combine(folder, "edu.sock"), Dll, folder, "--trace", trace))
            {
                await serve.WaitForSocketAsync();
                serve.Terminate();

                (await serve.WaitForExitAsync()).Should().Be(0, await serve.OutputAsync());
                (await serve.StderrAsync()).Should().Contain("edu-example on");
            }

            var replay = await CliProcesses.RunAsync(TimeSpan.FromMinutes(1), Dll, folder, "replay", trace);

            replay.Exit.Should().Be(0, $"stdout:\n{replay.Stdout}\nstderr:\n{replay.Stderr}");
            replay.Stdout.Should().Contain("identical");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Boot_with_the_driver_records_a_trace_that_replay_accepts()
    {
        string traces = Directory.CreateTempSubdirectory("pcieemu-edu-host-").FullName;
        try
        {
            string driver = Path.Combine(PcieEmu.Devices.Repository.Root, "src", "examples", "EduDevice", "driver");
            var (exit, stdout, stderr) = await CliProcesses.RunAsync(TimeSpan.FromMinutes(10), Dll, Environment.CurrentDirectory,
                "boot", "--driver", driver, "--trace", traces, "--timeout", "540",
                "--exec", "d=$(ls -d /sys/bus/pci/drivers/edu_example/0000:*) && echo 10 > $d/factorial && cat $d/factorial && echo 8192 > $d/dma_copy && cat $d/dma_copy");

            exit.Should().Be(0, $"stdout:\n{stdout}\nstderr:\n{stderr}");
            stdout.Should().Be("3628800\nok 8192\n");
            stderr.Should().Contain("recording").And.Contain("card0.petrace");

            string trace = Path.Combine(traces, "card0.petrace");
            var replay = await CliProcesses.RunAsync(TimeSpan.FromMinutes(2), Dll, Environment.CurrentDirectory, "replay", trace);

            replay.Exit.Should().Be(0, $"stdout:\n{replay.Stdout}\nstderr:\n{replay.Stderr}");
            replay.Stdout.Should().Contain("identical");

            var dump = await CliProcesses.RunAsync(TimeSpan.FromMinutes(1), Dll, Environment.CurrentDirectory, "trace", "dump", trace);
            dump.Exit.Should().Be(0, dump.Stderr);
            dump.Stdout.Should().Contain("edu-example").And.Contain("DmaWrite");
        }
        finally
        {
            Directory.Delete(traces, recursive: true);
        }
    }
}
