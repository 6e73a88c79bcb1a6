using System.Diagnostics;
using PcieEmu.Devices;
using PcieEmu.Harness.Provisioning;

namespace PcieEmu.Harness.Tests;

/// <summary>
/// The data the tools use travels with the binary (content items of PcieEmu.Devices and PcieEmu.Harness): the
/// copies beside it are exactly the checkout's files (no kernel build products, no editor leftovers), and
/// provisioning keys its cache the same whether it runs from the copies or from the checkout.
/// </summary>
public sealed class BundledDataTests
{
    private static readonly string Checkout = Repository.FindRootFrom(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException($"no PcieEmu.sln above {AppContext.BaseDirectory}");

    [Theory]
    [InlineData("firmware-models")]
    [InlineData("qemu")]
    public void The_copy_beside_the_binary_is_the_checkouts_files_without_build_products(string tree)
    {
        var copy = Files(Path.Combine(DataFiles.Directory, tree));
        var source = Files(Path.Combine(Checkout, tree)).Where(f => !IsBuildProduct(f)).ToList();

        copy.Should().BeEquivalentTo(source, "the build copies the checked-in files and nothing else (a stale extra copy needs a clean build)");
        foreach (string f in copy)
        {
            string a = Path.Combine(DataFiles.Directory, tree, f), b = Path.Combine(Checkout, tree, f);
            File.ReadAllBytes(a).Should().Equal(File.ReadAllBytes(b), f);
            File.GetUnixFileMode(a).Should().Be(File.GetUnixFileMode(b), $"{f}: provisioning hashes driver file modes, and runs the guest scripts");
        }
    }

    [Fact]
    public void Provisioning_runs_the_script_beside_the_binary()
    {
        Provisioner.ScriptPath.Should().Be(Path.Combine(AppContext.BaseDirectory, "qemu", "provision", "provision.sh"));
        File.Exists(Provisioner.ScriptPath).Should().BeTrue();
        File.Exists(DataFiles.DefaultModelPath).Should().BeTrue();
        File.Exists(DataFiles.ProModelPath).Should().BeTrue();
        File.Exists(DataFiles.SchemaPath).Should().BeTrue();
    }

    [Fact]
    public void Provisioning_keys_the_cache_the_same_from_the_copy_as_from_the_checkout()
    {
        string fromCopy = StageKeys(DataFiles.Directory);

        fromCopy.Should().Be(StageKeys(Checkout), "a copied script must not rebuild a cached QEMU, guest or driver stage");
        fromCopy.Split('\n').Should().HaveCount(4);
    }

    /// <summary>The stage keys as provision.sh computes them ("Stage keys and plan"), from the tree under <paramref name="root"/>.</summary>
    private static string StageKeys(string root)
    {
        const string script = """
            set -euo pipefail
            p=$1/qemu/provision
            source "$p/lib.sh"
            guest=()
            for f in "$1"/qemu/guest/*; do if [[ -f $f ]]; then guest+=("$f"); fi; done
            hash_files "$p/lib.sh" "$p/stage-qemu.sh"
            hash_files "$p/lib.sh" "$p/stage-guest.sh" "${guest[@]}"
            hash_files "$p/lib.sh" "$p/stage-drivers.sh"
            hash_tree "$1/qemu/drivers"
            """;
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { "-c", script, "keys", root })
        {
            start.ArgumentList.Add(a);
        }

        using var bash = Process.Start(start)!;
        var stdout = bash.StandardOutput.ReadToEndAsync();
        string stderr = bash.StandardError.ReadToEnd();
        bash.WaitForExit(60_000).Should().BeTrue();
        bash.ExitCode.Should().Be(0, stderr);
        return stdout.Result.Trim();
    }

    /// <summary>
    /// Relative paths of every file below <paramref name="dir"/>, hidden ones included: the SearchOption overload
    /// keeps the compatible behaviour (no attribute filter), so a dot-file left in the bundle is seen too.
    /// </summary>
    private static List<string> Files(string dir) =>
        [.. Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f))];

    /// <summary>The repository's .gitignore for qemu/drivers, plus editor leftovers.</summary>
    private static bool IsBuildProduct(string relativePath)
    {
        string name = Path.GetFileName(relativePath);
        return name.EndsWith(".o", StringComparison.Ordinal) || name.EndsWith(".ko", StringComparison.Ordinal)
            || name.EndsWith(".mod", StringComparison.Ordinal) || name.EndsWith(".mod.c", StringComparison.Ordinal)
            || (name.StartsWith('.') && name.EndsWith(".cmd", StringComparison.Ordinal))
            || name is "Module.symvers" or "modules.order"
            || relativePath.Split('/').Contains(".tmp_versions")
            || name.EndsWith(".swp", StringComparison.Ordinal) || name.EndsWith('~');
    }
}
