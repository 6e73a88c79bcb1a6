using System.Diagnostics;
using System.Text.Json.Nodes;
using PcieEmu.Devices;
using PcieEmu.Interop;
using PcieEmu.VfioUser.Client;

namespace PcieEmu.Integration.Tests;

/// <summary>
/// `pcieemu` against hostile paths and files, run as a process the way a user runs it: every failure is one line on
/// stderr (no stack frames) and a non-zero exit; nothing that is not the server's own socket is ever removed; device
/// files and FIFOs are refused without blocking; and an installed copy works from any directory without a checkout.
/// No guest is booted.
/// </summary>
public sealed class CliRobustnessTests : IDisposable
{
    /// <summary>Generous, for a loaded machine: each run is a `dotnet` start plus at most a model load.</summary>
    private static readonly TimeSpan Run = TimeSpan.FromMinutes(2);

    private readonly string _dir = Directory.CreateTempSubdirectory("pe-").FullName; // short: socket paths

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task A_second_serve_on_a_live_socket_fails_in_one_line_and_the_first_keeps_its_socket_and_serves()
    {
        string socket = Path.Combine(_dir, "vu.sock");
        using var first = ServeProcess.Start(socket);
        await first.WaitForSocketAsync();
        var before = FileStatus.OfLink(socket)!.Value;

        var second = await Pcieemu("serve", "--socket", socket);

        OneLineError(second, 2, $"serve: cannot listen on {socket}: in use by another server");
        FileStatus.OfLink(socket).Should().NotBeNull("the failed server must leave the live server's socket");
        FileStatus.OfLink(socket)!.Value.IsSameObjectAs(before).Should().BeTrue();
        NegotiateWithRetry(socket).Should().Be(9, "the first server still serves (its one client, without --persist)");
        (await first.WaitForExitAsync()).Should().Be(0, await first.OutputAsync());
        FileStatus.OfLink(socket).Should().BeNull("the first server removes its own socket when it ends");
    }

    [Fact]
    public async Task A_regular_file_at_the_socket_path_is_refused_in_one_line_and_left_untouched()
    {
        string path = Path.Combine(_dir, "notes.txt");
        await File.WriteAllTextAsync(path, "precious");

        var serve = await Pcieemu("serve", "--socket", path);

        OneLineError(serve, 2, $"serve: cannot listen on {path}: it is a regular file, not a socket (left untouched; remove it or choose another path)");
        (await File.ReadAllTextAsync(path)).Should().Be("precious");
    }

    [Fact]
    public async Task A_fifo_at_the_socket_path_is_refused_in_one_line_and_left_untouched()
    {
        string path = MakeFifo("fifo");
        var before = FileStatus.OfLink(path)!.Value;

        var serve = await Pcieemu("serve", "--socket", path);

        OneLineError(serve, 2, $"serve: cannot listen on {path}: it is a FIFO, not a socket (left untouched; remove it or choose another path)");
        FileStatus.OfLink(path).Should().Be(before);
    }

    [Fact]
    public async Task A_socket_path_longer_than_sun_path_is_one_line_naming_the_limit()
    {
        string path = Path.Combine(_dir, new string('s', 120));

        var serve = await Pcieemu("serve", "--socket", path);

        int bytes = System.Text.Encoding.UTF8.GetByteCount(path);
        OneLineError(serve, 2, $"serve: cannot listen on {path}: the path is {bytes} bytes long; a UNIX socket path may have at most 107 (sun_path holds 108 bytes including the terminating NUL)");
    }

    [Theory]
    [InlineData("/dev/zero", "a character device")]
    [InlineData("/dev/urandom", "a character device")]
    [InlineData("fifo", "a FIFO")]
    public async Task A_model_that_is_not_a_regular_file_is_refused_promptly_in_one_line(string model, string kind)
    {
        if (model == "fifo")
        {
            model = MakeFifo("model.json");
        }

        // Run's deadline is the "promptly": before, /dev/zero ran out of memory and a FIFO blocked forever.
        var serve = await Pcieemu("serve", "--model", model, "--socket", Path.Combine(_dir, "vu.sock"));
        var validate = await Pcieemu("validate", model);

        OneLineError(serve, 2, $"serve: {model}: cannot read the model file: {model} is {kind}, not a regular file");
        OneLineError(validate, 1, $"{model}: cannot read the model file: {model} is {kind}, not a regular file");
    }

    [Fact]
    public async Task Validate_refuses_a_registers_bar_the_card_cannot_build_in_one_line()
    {
        var json = JsonNode.Parse(await File.ReadAllTextAsync(DataFiles.DefaultModelPath))!;
        json["bars"]!["registers"]!["size"] = 32 << 20;
        string model = Path.Combine(_dir, "big-registers.json");
        await File.WriteAllTextAsync(model, json.ToJsonString());

        var validate = await Pcieemu("validate", model);

        OneLineError(validate, 1, $"{model}: does not match the card model schema: $.bars.registers.size: 33554432 is above the maximum 16777216");
    }

    [Fact]
    public async Task An_exception_no_verb_expects_is_one_line_and_exit_70()
    {
        string log = Path.Combine(_dir, "no-such-dir", "serve.log");

        var serve = await Pcieemu("serve", "--socket", Path.Combine(_dir, "vu.sock"), "--log-file", log);

        OneLineError(serve, 70, $"pcieemu serve: Could not find a part of the path '{log}'. (unexpected DirectoryNotFoundException; --log-level Debug shows the details)");
        var debug = await Pcieemu("serve", "--socket", Path.Combine(_dir, "vu.sock"), "--log-file", log, "--log-level", "Debug");
        debug.Exit.Should().Be(70);
        debug.Stderr.Should().Contain("System.IO.DirectoryNotFoundException").And.Contain("   at ", "Debug shows the whole exception");
    }

    [Fact]
    public async Task An_installed_copy_serves_and_validates_from_an_empty_directory_outside_any_checkout()
    {
        string installed = Path.Combine(_dir, "installed");
        CopyTree(AppContext.BaseDirectory, installed);
        Repository.FindRootFrom(installed).Should().BeNull("the copy must be outside any checkout for this test to mean anything");
        string dll = Path.Combine(installed, "pcieemu.dll");
        string cwd = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        string models = Path.Combine(installed, "firmware-models", "pcieemu-audio");

        var validate = await CliProcesses.RunAsync(Run, dll, cwd, "validate", Path.Combine(models, "default.json"), Path.Combine(models, "pro.json"));
        validate.Exit.Should().Be(0, validate.Stderr);
        validate.Stdout.Should().Contain("ok: default.json").And.Contain("ok: pro.json");

        string socket = Path.Combine(_dir, "vu.sock");
        using (var serve = ServeProcess.Start(socket, dll, cwd))
        {
            await serve.WaitForSocketAsync();
            serve.Terminate();
            (await serve.WaitForExitAsync()).Should().Be(0, await serve.OutputAsync());
            (await serve.StderrAsync()).Should().Contain("Serving PcieEmu Audio on").And.NotContain("   at ");
        }

        // Generating sources is a developer's build-time job (src/PcieEmu.Codegen), not the installed tool's.
        var codegen = await CliProcesses.RunAsync(Run, dll, cwd, "codegen", "--check");
        codegen.Exit.Should().NotBe(0, "codegen is not a verb of the installed tool");
        (codegen.Stdout + codegen.Stderr).Should().Contain("'codegen'");
        File.Exists(Path.Combine(installed, "PcieEmu.Codegen.dll")).Should().BeFalse("the generator does not ship with the tool");
    }

    private Task<(int Exit, string Stdout, string Stderr)> Pcieemu(params string[] args) =>
        CliProcesses.RunAsync(Run, CliProcesses.DefaultDll, _dir, args);

    /// <summary>The process failed with exactly <paramref name="line"/> on stderr: one line, no stack frames.</summary>
    private static void OneLineError((int Exit, string Stdout, string Stderr) result, int exit, string line)
    {
        result.Exit.Should().Be(exit, $"stderr:\n{result.Stderr}");
        result.Stderr.Should().NotContain("   at ", "a clear error, not a stack trace");
        result.Stderr.TrimEnd('\n').Split('\n').Should().ContainSingle().Which.Should().Be(line);
    }

    /// <summary>
    /// Connects, negotiates and reads the device info; returns the region count. Retries while the server still
    /// serves the failed server's liveness probe (a client meanwhile is refused), within a generous deadline.
    /// </summary>
    private static int NegotiateWithRetry(string socket)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = VfioUserClient.Connect(socket);
                client.Negotiate();
                return (int)client.GetDeviceInfo().NumRegions;
            }
            catch (Exception e) when (e is VfioUserProtocolException or IOException or System.Net.Sockets.SocketException or TimeoutException
                                      && deadline.Elapsed < TimeSpan.FromMinutes(1))
            {
                Thread.Yield();
            }
        }
    }

    private string MakeFifo(string name)
    {
        string path = Path.Combine(_dir, name);
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        p.WaitForExit(30_000).Should().BeTrue();
        p.ExitCode.Should().Be(0);
        return path;
    }

    private static void CopyTree(string from, string to)
    {
        foreach (string dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }

        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
        }
    }
}
