using System.Security.Cryptography;
using System.Text;
using PcieEmu.Interop;

namespace PcieEmu.Harness.Provisioning;

/// <summary>One file of a driver source directory: where it is, where it goes in the build copy, whether it is executable.</summary>
internal readonly record struct DriverSourceFile(string RelativePath, string FullPath, bool Executable);

/// <summary>
/// A user's out-of-tree kernel module source directory (`boot --driver DIR`, <see cref="GuestSessionOptions.Drivers"/>):
/// a directory with a Kbuild or Makefile, as qemu/drivers/pcieemu_audio. The files that take part in a build are
/// every file below it except kernel build products (the list provisioning's hash_tree ignores) and version-control
/// folders; symbolic links are followed. Their names, executable bits and contents, never their paths or times, make
/// <see cref="ContentHash"/>, which keys the build cache (<see cref="UserDrivers"/>).
/// </summary>
public sealed class DriverSource
{
    /// <summary>More than this many files is not a module's source directory (a home folder given by mistake).</summary>
    public const int MaxFiles = 2000;

    /// <summary>Bytes of all files together, for the same reason.</summary>
    public const long MaxBytes = 64L << 20;

    private const int MaxDepth = 16;

    private static readonly string[] SkippedFolders = [".git", ".hg", ".svn", ".tmp_versions"];

    private DriverSource(string directory, IReadOnlyList<DriverSourceFile> files)
    {
        Directory = directory;
        Files = files;
    }

    /// <summary>The directory as an absolute path (not resolved: the path the user knows, which messages show).</summary>
    public string Directory { get; }

    /// <summary>The directory's own name, for progress lines.</summary>
    public string Name => Path.GetFileName(Directory) is { Length: > 0 } n ? n : Directory;

    /// <summary>The files of a build, sorted by relative path (ordinal).</summary>
    internal IReadOnlyList<DriverSourceFile> Files { get; }

    /// <summary>The absolute form of a --driver argument, without a trailing separator (the form messages use).</summary>
    public static string FullPath(string path)
    {
        string full = Path.GetFullPath(path);
        return full.Length > 1 ? Path.TrimEndingDirectorySeparator(full) : full;
    }

    /// <summary>Why <paramref name="path"/> cannot be a driver source directory, or null when it can (cheap: no file is read).</summary>
    public static string? Problem(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return "an empty path is not a directory";
        }

        string full = FullPath(path);
        switch (FileStatus.Of(full)?.Kind)
        {
            case null:
                return FileStatus.OfLink(full) is null ? "no such directory" : "a symbolic link to nothing";
            case FileKind.Directory:
                break;
            case var kind:
                return $"not a directory ({FileStatus.Describe(kind.Value)}); give the module's source directory";
        }

        bool hasBuildFile = new[] { "Kbuild", "Makefile" }.Any(f => FileStatus.Of(Path.Combine(full, f))?.Kind == FileKind.Regular);
        return hasBuildFile ? null : "no Kbuild or Makefile in it, so it is not a kernel module source directory";
    }

    /// <summary>Lists the files of a build; every problem is a <see cref="DriverBuildException"/> naming the directory.</summary>
    internal static DriverSource Read(string path)
    {
        string directory = FullPath(path);
        if (Problem(directory) is { } problem)
        {
            throw new DriverBuildException($"driver {directory}: {problem}");
        }

        var files = new List<DriverSourceFile>();
        long bytes = 0;
        try
        {
            Walk(directory, "", 0);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new DriverBuildException($"driver {directory}: cannot read the driver sources: {e.Message}");
        }

        files.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        return new DriverSource(directory, files);

        void Walk(string dir, string relative, int depth)
        {
            if (depth > MaxDepth)
            {
                throw new DriverBuildException($"driver {directory}: folders nest deeper than {MaxDepth} levels below it (a symbolic link loop?)");
            }

            var entries = new DirectoryInfo(dir).EnumerateFileSystemInfos().Select(e => e.Name).ToList();
            entries.Sort(StringComparer.Ordinal);
            foreach (string name in entries)
            {
                string full = Path.Combine(dir, name);
                string rel = relative.Length == 0 ? name : relative + "/" + name;
                var status = FileStatus.Of(full);
                switch (status?.Kind)
                {
                    case null:
                        throw new DriverBuildException($"driver {directory}: {rel} is a symbolic link to nothing");
                    case FileKind.Directory:
                        if (!SkippedFolders.Contains(name, StringComparer.Ordinal))
                        {
                            Walk(full, rel, depth + 1);
                        }

                        break;
                    case FileKind.Regular:
                        if (IsBuildProduct(name))
                        {
                            break;
                        }

                        bytes += (long)status.Value.Size;
                        if (files.Count >= MaxFiles || bytes > MaxBytes)
                        {
                            throw new DriverBuildException(
                                $"driver {directory}: more than {MaxFiles} files or {MaxBytes >> 20} MiB; is it the module's source directory?");
                        }

                        bool executable = (File.GetUnixFileMode(full) & UnixFileMode.UserExecute) != 0;
                        files.Add(new DriverSourceFile(rel, full, executable));
                        break;
                    case var kind:
                        throw new DriverBuildException($"driver {directory}: {rel} is {FileStatus.Describe(kind.Value)}, not a regular file or folder");
                }
            }
        }
    }

    /// <summary>
    /// Kernel build products, which neither key nor enter a build (the list of lib.sh's DRIVER_JUNK_FIND and the
    /// repository's .gitignore): a user who built in place keeps their objects, and the build copy starts clean.
    /// </summary>
    internal static bool IsBuildProduct(string fileName) =>
        fileName.EndsWith(".o", StringComparison.Ordinal) || fileName.EndsWith(".ko", StringComparison.Ordinal)
        || fileName.EndsWith(".mod", StringComparison.Ordinal) || fileName.EndsWith(".mod.c", StringComparison.Ordinal)
        || (fileName.StartsWith('.') && fileName.EndsWith(".cmd", StringComparison.Ordinal))
        || fileName is "Module.symvers" or "modules.order";

    /// <summary>SHA-256 (hex) of the relative names, executable bits and contents of <see cref="Files"/>, in order.</summary>
    internal string ContentHash()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("pcieemu driver source 1\n"u8);
        Span<byte> digest = stackalloc byte[32];
        foreach (var f in Files)
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"F\0{f.RelativePath}\0{(f.Executable ? 'x' : '-')}\0"));
            using (var stream = new FileStream(f.FullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                SHA256.HashData(stream, digest);
            }

            hash.AppendData(digest);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}

/// <summary>
/// A user driver could not be used: a bad directory, a failed build, a module the guest cannot load. The message is
/// one line; a failed compile also carries the compiler's own lines in <see cref="Diagnostics"/>.
/// </summary>
public sealed class DriverBuildException(string message, string? logPath = null, IReadOnlyList<string>? diagnostics = null) : ProvisioningException(message)
{
    /// <summary>The build log (paths rewritten to the user's sources), when there is one.</summary>
    public string? LogPath { get; } = logPath;

    /// <summary>
    /// The compiler's and modpost's lines of a failed build (`file:line:col: error: …` with the user's paths, the
    /// source excerpts, make's failure lines), without make's and Kbuild's progress chatter; empty when no compile ran.
    /// </summary>
    public IReadOnlyList<string> Diagnostics { get; } = diagnostics ?? [];
}
