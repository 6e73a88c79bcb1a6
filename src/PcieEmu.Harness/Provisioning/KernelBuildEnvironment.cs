using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using PcieEmu.Harness.Processes;

namespace PcieEmu.Harness.Provisioning;

/// <summary>
/// What a module is built against: the guest kernel's headers (provisioning's kdir), its ABI, and the host compiler
/// those headers name. <see cref="Identity"/> is everything that makes two builds of the same sources differ, so it
/// is part of a user driver's cache key: the kernel ABI and package, the headers' exported-symbol versions
/// (Module.symvers) and .config, and the compiler's path and version.
/// </summary>
internal sealed partial record KernelBuildEnvironment(string HeadersDirectory, string KernelAbi, string Make, string Compiler, string Identity)
{
    /// <summary>The compiler the Debian kernel was built with, when the headers do not say.</summary>
    public const string DefaultCompiler = "gcc-12";

    /// <summary>Finds make and the compiler on the host and fingerprints the headers; a missing tool is one clear error.</summary>
    public static async Task<KernelBuildEnvironment> ProbeAsync(GuestArtifacts artifacts, CancellationToken cancellationToken = default)
    {
        string kdir = artifacts.KernelHeaders;
        if (!Directory.Exists(kdir))
        {
            throw new DriverBuildException($"the guest kernel headers {kdir} are missing (cache damaged? run `pcieemu setup --force`)");
        }

        string make = FindOnPath("make") ?? throw new DriverBuildException("building a driver needs 'make', which is not installed on the host (Debian package make)");
        string compilerName = CompilerOf(ReadOrEmpty(Path.Combine(kdir, ".kernelvariables")));
        string compiler = FindOnPath(compilerName)
            ?? throw new DriverBuildException($"the guest kernel's headers build with '{compilerName}', which is not installed on the host (Debian package {compilerName})");
        string version = await FirstLineOfAsync(compiler, "--version", cancellationToken);

        var identity = new StringBuilder()
            .Append("kabi=").Append(artifacts.KernelAbi).Append('\n')
            .Append("kernel_package=").Append(artifacts.KernelPackage ?? "?").Append('\n')
            .Append("symvers=").Append(HashFile(Path.Combine(kdir, "Module.symvers"))).Append('\n')
            .Append("config=").Append(HashFile(Path.Combine(kdir, ".config"))).Append('\n')
            .Append("cc=").Append(compiler).Append(' ').Append(version).Append('\n');
        return new KernelBuildEnvironment(kdir, artifacts.KernelAbi, make, compiler, identity.ToString());
    }

    /// <summary>
    /// The compiler command of the headers' .kernelvariables (`CC = … $(CROSS_COMPILE)gcc-12`), as provisioning's
    /// stage-drivers.sh reads it; <see cref="DefaultCompiler"/> when there is none.
    /// </summary>
    public static string CompilerOf(string kernelVariables)
    {
        foreach (string line in kernelVariables.Split('\n'))
        {
            if (CompilerLine().Match(line) is { Success: true } m)
            {
                return m.Groups[1].Value;
            }
        }

        return DefaultCompiler;
    }

    public static string? FindOnPath(string command)
    {
        if (command.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(command) ? command : null;
        }

        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, command);
            if (File.Exists(candidate) && (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
            {
                return candidate;
            }
        }

        return null;
    }

    private static string ReadOrEmpty(string path) => File.Exists(path) ? File.ReadAllText(path) : "";

    private static string HashFile(string path)
    {
        if (!File.Exists(path))
        {
            return "missing";
        }

        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static async Task<string> FirstLineOfAsync(string program, string argument, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(argument);
        psi.Environment["LC_ALL"] = "C";
        using var process = ChildProcessLauncher.Start(psi);
        using var kill = cancellationToken.Register(() => ChildProcessLauncher.Kill(process));
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        string stdout = await process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        await process.WaitForExitAsync(CancellationToken.None);
        await stderr;
        cancellationToken.ThrowIfCancellationRequested();
        if (process.ExitCode != 0)
        {
            throw new DriverBuildException($"`{program} {argument}` failed (exit {process.ExitCode}); the compiler the guest kernel's headers name does not run");
        }

        return stdout.Split('\n')[0].Trim();
    }

    [GeneratedRegex(@"^CC\s*:?=.*\$\(CROSS_COMPILE\)(\S+)")]
    private static partial Regex CompilerLine();
}
