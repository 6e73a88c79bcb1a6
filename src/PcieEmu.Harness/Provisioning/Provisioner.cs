using System.Diagnostics;
using PcieEmu.Devices;
using PcieEmu.Harness.Processes;

namespace PcieEmu.Harness.Provisioning;

/// <summary>
/// Runs qemu/provision/provision.sh (idempotent, cached, safe to run concurrently) and reads its manifest.
/// Progress arrives as @@STEP lines; a failure as @@ERROR with the package or log to blame.
/// </summary>
public static class Provisioner
{
    /// <summary>The provisioning script beside the binary (a copy of the checkout's qemu/ tree, see PcieEmu.Harness.csproj).</summary>
    public static string ScriptPath => Path.Combine(DataFiles.QemuDirectory, "provision", "provision.sh");

    /// <summary>
    /// Provisions what is missing (the first run downloads and builds for many minutes; later runs only check the
    /// cache) and returns what the manifest lists. Needs network access, bash and the tools qemu/provision/README.md
    /// names.
    /// </summary>
    /// <param name="progress">One report per @@STEP line of the script.</param>
    /// <param name="force">Rebuild every stage, even those cached.</param>
    /// <param name="cacheDirectory">The provisioning cache, or null for the script's default (~/.cache/pcieemu).</param>
    /// <param name="hotplugQemu">Also build the qemu-hotplug stage (a QEMU that survives device_del of an MSI-X vfio-user device).</param>
    /// <param name="cancellationToken">Kills the script and its children.</param>
    /// <exception cref="ProvisioningException">The script is missing, failed (its @@ERROR line and the last output), or wrote no manifest.</exception>
    public static async Task<GuestArtifacts> EnsureAsync(IProgress<ProvisionStep>? progress = null, bool force = false,
        string? cacheDirectory = null, bool hotplugQemu = false, CancellationToken cancellationToken = default)
    {
        string script = ScriptPath;
        if (!File.Exists(script))
        {
            throw new ProvisioningException($"provisioning script {script} is missing");
        }

        var args = new List<string> { script };
        if (force)
        {
            args.Add("--force");
        }

        if (hotplugQemu)
        {
            args.Add("--with-hotplug-qemu");
        }

        if (cacheDirectory is not null)
        {
            args.Add("--cache");
            args.Add(cacheDirectory);
        }

        string? manifest = null;
        string? error = null;
        var tail = new Queue<string>();
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        args.ForEach(psi.ArgumentList.Add);
        using var process = ChildProcessLauncher.Start(psi);
        using var kill = cancellationToken.Register(() => TryKill(process));
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        while (await process.StandardOutput.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("@@STEP ", StringComparison.Ordinal) && TryParseStep(line[7..], out var step))
            {
                progress?.Report(step);
            }
            else if (line.StartsWith("@@ERROR ", StringComparison.Ordinal))
            {
                error = line[8..];
            }
            else if (line.StartsWith("@@MANIFEST ", StringComparison.Ordinal))
            {
                manifest = line[11..].Trim();
            }
            else
            {
                tail.Enqueue(line);
                if (tail.Count > 20)
                {
                    tail.Dequeue();
                }
            }
        }

        await process.WaitForExitAsync(cancellationToken);
        string err = await stderr;
        if (process.ExitCode != 0 || manifest is null)
        {
            throw new ProvisioningException(
                $"provisioning failed (exit {process.ExitCode}): {error ?? "no @@ERROR line"}" +
                (tail.Count > 0 ? "\n  last output:\n    " + string.Join("\n    ", tail) : "") +
                (err.Length > 0 ? "\n  stderr:\n    " + err.Trim().Replace("\n", "\n    ", StringComparison.Ordinal) : ""));
        }

        return GuestArtifacts.Parse(manifest);
    }

    private static bool TryParseStep(string text, out ProvisionStep step)
    {
        step = default;
        int space = text.IndexOf(' ', StringComparison.Ordinal);
        string fraction = space < 0 ? text : text[..space];
        int slash = fraction.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !int.TryParse(fraction[..slash], out int i) || !int.TryParse(fraction[(slash + 1)..], out int n))
        {
            return false;
        }

        step = new ProvisionStep(i, n, space < 0 ? "" : text[(space + 1)..]);
        return true;
    }

    private static void TryKill(Process p)
    {
        try
        {
            p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }
}
