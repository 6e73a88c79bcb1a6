using System.Buffers.Binary;
using System.Text;

namespace PcieEmu.Harness.Provisioning;

/// <summary>
/// The .modinfo section of a built kernel module (an x86-64 ELF64 relocatable file): NUL-separated key=value strings
/// such as name=, vermagic= and depends=. Read from the section itself, so a string in the module's data that merely
/// looks like "vermagic=…" is never taken for it.
/// </summary>
internal static class KernelModuleInfo
{
    /// <summary>The key=value entries in file order (a key may repeat: alias=, parm=).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Read(string koPath) => Parse(File.ReadAllBytes(koPath), koPath);

    public static IReadOnlyList<KeyValuePair<string, string>> Parse(ReadOnlySpan<byte> elf, string nameForErrors)
    {
        string notModule = $"{nameForErrors} is not a 64-bit little-endian ELF kernel module";
        if (elf.Length < 64 || !elf[..4].SequenceEqual("\u007fELF"u8) || elf[4] != 2 || elf[5] != 1)
        {
            throw new DriverBuildException(notModule);
        }

        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(elf[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3A..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3C..]);
        int shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3E..]);
        if (shentsize < 64 || shstrndx >= shnum || shoff > (ulong)elf.Length || (ulong)shnum * (ulong)shentsize > (ulong)elf.Length - shoff)
        {
            throw new DriverBuildException($"{notModule} (bad section headers)");
        }

        ReadOnlySpan<byte> Section(ReadOnlySpan<byte> file, int index, out uint nameOffset)
        {
            var header = file.Slice((int)shoff + (index * shentsize), shentsize);
            nameOffset = BinaryPrimitives.ReadUInt32LittleEndian(header);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(header[0x18..]);
            ulong size = BinaryPrimitives.ReadUInt64LittleEndian(header[0x20..]);
            if (type == 8) // SHT_NOBITS: no bytes in the file
            {
                return [];
            }

            if (offset > (ulong)file.Length || size > (ulong)file.Length - offset)
            {
                throw new DriverBuildException($"{notModule} (a section lies outside the file)");
            }

            return file.Slice((int)offset, (int)size);
        }

        var names = Section(elf, shstrndx, out _);
        for (int i = 0; i < shnum; i++)
        {
            var data = Section(elf, i, out uint nameOffset);
            if (nameOffset < names.Length && NameAt(names, (int)nameOffset) == ".modinfo")
            {
                var entries = new List<KeyValuePair<string, string>>();
                foreach (var s in Encoding.UTF8.GetString(data).Split('\0', StringSplitOptions.RemoveEmptyEntries))
                {
                    int eq = s.IndexOf('=', StringComparison.Ordinal);
                    if (eq > 0)
                    {
                        entries.Add(new(s[..eq], s[(eq + 1)..]));
                    }
                }

                return entries;
            }
        }

        throw new DriverBuildException($"{nameForErrors} has no .modinfo section, so it is not a kernel module");
    }

    /// <summary>The first value of <paramref name="key"/>, or null.</summary>
    public static string? Get(IReadOnlyList<KeyValuePair<string, string>> info, string key) =>
        info.FirstOrDefault(kv => kv.Key == key) is { Key: not null } kv ? kv.Value : null;

    /// <summary>
    /// Null when the module's vermagic is the guest kernel's (it starts with the kernel release and a space, as
    /// `6.1.0-57-amd64 SMP preempt mod_unload modversions `), else why the guest would refuse it.
    /// </summary>
    public static string? VermagicProblem(string? vermagic, string kernelAbi) =>
        vermagic is null ? "has no vermagic, so the guest kernel would refuse it"
        : vermagic.StartsWith(kernelAbi + " ", StringComparison.Ordinal) ? null
        : $"has vermagic '{vermagic.Trim()}', but the guest kernel is {kernelAbi}; the guest would refuse it (was it built against other kernel headers?)";

    private static string NameAt(ReadOnlySpan<byte> strings, int offset)
    {
        var rest = strings[offset..];
        int end = rest.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? rest : rest[..end]);
    }
}
