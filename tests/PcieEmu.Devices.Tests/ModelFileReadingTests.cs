using System.Diagnostics;
using System.Text.Json.Nodes;
using PcieEmu.Devices.Models;

namespace PcieEmu.Devices.Tests;

/// <summary>
/// Model files and expansion ROM images are read only when they are regular files, and only up to a limit (model
/// 1 MiB, ROM 16 MiB): /dev/zero or /dev/urandom used to be read until memory ran out, and a FIFO blocked forever.
/// Each is now a model error, returned at once.
/// </summary>
public sealed class ModelFileReadingTests : IDisposable
{
    /// <summary>Generous: a refusal needs no I/O; the bugs these guard against never return at all.</summary>
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("/dev/urandom")]
    public void A_device_as_the_model_file_is_refused(string device)
    {
        var e = LoadPromptly(device);

        e.Message.Should().Be($"{device}: cannot read the model file: {device} is a character device, not a regular file");
    }

    [Fact]
    public void A_fifo_as_the_model_file_is_refused_without_waiting_for_a_writer()
    {
        string fifo = MakeFifo("model.json");

        LoadPromptly(fifo).Message.Should().EndWith($"{fifo} is a FIFO, not a regular file");
    }

    [Fact]
    public void A_model_file_larger_than_1_MiB_is_refused_and_one_of_1_MiB_is_read()
    {
        string text = Repo.DefaultModelJson().ToJsonString();
        string atLimit = _dir.Write("at-limit.json", text + new string(' ', CardModelLoader.MaxModelFileBytes - text.Length));
        string over = _dir.Write("over.json", text + new string(' ', CardModelLoader.MaxModelFileBytes - text.Length + 1));

        CardModelLoader.Load(atLimit).Name.Should().Be(Repo.DefaultModel.Name, "whitespace padding up to the limit is still a model");
        LoadPromptly(over).Message.Should().EndWith($"{over} is larger than 1 MiB, the limit for a model file");
    }

    [Theory]
    [InlineData("/dev/zero", "a character device")]
    [InlineData("/dev/urandom", "a character device")]
    public void A_device_as_the_expansion_rom_is_refused(string device, string kind)
    {
        string model = ModelWithRom(device);

        LoadPromptly(model).Message.Should().Contain($"$.expansionRom.file: cannot read {device}: {device} is {kind}, not a regular file");
    }

    [Fact]
    public void A_fifo_as_the_expansion_rom_is_refused_without_waiting_for_a_writer()
    {
        string fifo = MakeFifo("option.rom");

        LoadPromptly(ModelWithRom(fifo)).Message.Should().Contain($"{fifo} is a FIFO, not a regular file");
    }

    [Fact]
    public void An_expansion_rom_larger_than_16_MiB_is_refused()
    {
        string rom = Path.Combine(_dir.Path, "big.rom");
        using (var f = File.Create(rom))
        {
            f.SetLength((16 << 20) + 1);
        }

        LoadPromptly(ModelWithRom(rom)).Message.Should().Contain($"{rom} is larger than 16 MiB, the limit for an expansion ROM image");
    }

    [Fact]
    public void An_empty_expansion_rom_is_refused()
    {
        string rom = _dir.Write("empty.rom", "");

        LoadPromptly(ModelWithRom(rom)).Message.Should().Contain($"$.expansionRom.file: {rom} is empty");
    }

    private string ModelWithRom(string romPath)
    {
        var json = Repo.DefaultModelJson();
        json["expansionRom"] = new JsonObject { ["file"] = romPath }; // absolute: Path.Combine keeps it
        return _dir.Write("with-rom.json", json);
    }

    /// <summary>Loads on another thread and fails the test (instead of hanging it) if no answer comes in time.</summary>
    private static CardModelException LoadPromptly(string path)
    {
        var load = Task.Run(() => CardModelLoader.Load(path));
        bool finished = ((IAsyncResult)load).AsyncWaitHandle.WaitOne(Prompt);
        if (!finished && File.Exists(path))
        {
            using var writer = new FileStream(path, FileMode.Open, FileAccess.Write); // releases an open blocked on a FIFO
        }

        finished.Should().BeTrue($"loading {path} must return promptly");
        return load.Exception?.InnerException.Should().BeOfType<CardModelException>().Subject
               ?? throw new InvalidOperationException($"{path} loaded as a model");
    }

    private string MakeFifo(string name)
    {
        string path = Path.Combine(_dir.Path, name);
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        p.WaitForExit(30_000).Should().BeTrue();
        p.ExitCode.Should().Be(0);
        return path;
    }
}
