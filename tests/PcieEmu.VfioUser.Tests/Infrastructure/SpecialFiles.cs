using System.Diagnostics;
using System.Net.Sockets;

namespace PcieEmu.VfioUser.Tests.Infrastructure;

/// <summary>A scratch directory (removed on dispose) in which tests make FIFOs, sockets, links and files.</summary>
internal sealed class ScratchDir : IDisposable
{
    public ScratchDir()
    {
        // Short: socket paths must fit in sun_path.
        Path = Directory.CreateTempSubdirectory("pe-").FullName;
    }

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    /// <summary>mkfifo(1): .NET has no API for it and the product needs no interop for it either.</summary>
    public string Fifo(string name)
    {
        string path = this[name];
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        p.WaitForExit(30_000).Should().BeTrue("mkfifo returns at once");
        p.ExitCode.Should().Be(0);
        return path;
    }

    public string File(string name, string content)
    {
        string path = this[name];
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    /// <summary>A socket file nobody listens on any more, as a crashed server leaves it.</summary>
    public string StaleSocket(string name)
    {
        string path = this[name];
        string aside = path + ".aside";
        using (var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            s.Bind(new UnixDomainSocketEndPoint(path));
            s.Listen(1);
            System.IO.File.Move(path, aside); // .NET unlinks the bound path on Dispose; a crashed server would not
        }

        System.IO.File.Move(aside, path);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
