using System.Diagnostics;
using System.Security.Cryptography;

namespace PcieEmu.Cli.Bench;

/// <summary>
/// The C programs of `bench rtt --compare` (the responder it measures against, rtt_responder.c, and the C client,
/// rtt_client.c) ship inside pcieemu as resources and are compiled on first use into ~/.cache/pcieemu/bench/, keyed by
/// the source and the compiler, so they travel with the tool.
/// </summary>
internal static class ResponderBuild
{
    public const string Responder = "rtt_responder";
    public const string Client = "rtt_client";

    /// <summary>Compilers tried in order when none is named (gcc-12 is on every build machine).</summary>
    private static readonly string[] DefaultCompilers = ["gcc-12", "gcc", "cc"];

    public static byte[] Source(string program)
    {
        string resource = program + ".c";
        using var stream = typeof(ResponderBuild).Assembly.GetManifestResourceStream(resource)
                           ?? throw new InvalidOperationException($"{resource} is not embedded in pcieemu");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>The path of a compiled <paramref name="program"/>, building it if needed. Throws <see cref="IOException"/> when it cannot.</summary>
    public static string Ensure(string program, string? compiler)
    {
        string cc = compiler ?? DefaultCompilers.FirstOrDefault(c => FindOnPath(c) is not null)
                    ?? throw new IOException($"no C compiler found (tried {string.Join(", ", DefaultCompilers)}); pass --cc or --responder");
        byte[] source = Source(program);
        string key = Convert.ToHexStringLower(SHA256.HashData([.. source, .. System.Text.Encoding.UTF8.GetBytes(cc)]))[..16];
        string dir = Path.Combine(CacheRoot(), "bench");
        string binary = Path.Combine(dir, $"{program}-{key}");
        if (File.Exists(binary))
        {
            return binary;
        }

        Directory.CreateDirectory(dir);
        string sourcePath = Path.Combine(dir, $"{program}-{key}.c");
        File.WriteAllBytes(sourcePath, source);
        string temp = $"{binary}.{Environment.ProcessId}.tmp";
        var start = new ProcessStartInfo(cc) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { "-O2", "-std=gnu11", "-Wall", "-o", temp, sourcePath })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new IOException($"cannot start {cc}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            File.Delete(temp);
            throw new IOException($"{cc} failed to build {program} ({process.ExitCode}): {stderr}{stdout.Result}");
        }

        File.Move(temp, binary, overwrite: true);
        return binary;
    }

    private static string CacheRoot()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "pcieemu");
    }

    private static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
