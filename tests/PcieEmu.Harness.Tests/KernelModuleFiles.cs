using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace PcieEmu.Harness.Tests;

/// <summary>Test data for the driver build: a minimal ELF64 "kernel module" with a .modinfo section, and a newc reader.</summary>
internal static class KernelModuleFiles
{
    /// <summary>
    /// An ELF64 little-endian relocatable file with sections null, .rodata (<paramref name="rodata"/>), .modinfo
    /// (the entries, NUL-separated) and .shstrtab: what KernelModuleInfo reads of a real .ko.
    /// </summary>
    public static byte[] Module(string rodata, params string[] modinfo)
    {
        byte[] rodataBytes = Encoding.UTF8.GetBytes(rodata);
        byte[] info = Encoding.UTF8.GetBytes(string.Concat(modinfo.Select(e => e + "\0")));
        byte[] names = Encoding.ASCII.GetBytes("\0.rodata\0.modinfo\0.shstrtab\0");
        int rodataOffset = 64, infoOffset = rodataOffset + rodataBytes.Length, namesOffset = infoOffset + info.Length;
        int shoff = (namesOffset + names.Length + 7) & ~7;
        var elf = new byte[shoff + (4 * 64)];
        "\u007fELF"u8.CopyTo(elf);
        elf[4] = 2; // ELFCLASS64
        elf[5] = 1; // little-endian
        elf[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x10), 1); // ET_REL
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x12), 62); // x86-64
        BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(0x28), (ulong)shoff);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x34), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x3A), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x3C), 4);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(0x3E), 3);
        rodataBytes.CopyTo(elf, rodataOffset);
        info.CopyTo(elf, infoOffset);
        names.CopyTo(elf, namesOffset);
        void Section(int index, int name, int offset, int size)
        {
            var h = elf.AsSpan(shoff + (index * 64), 64);
            BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)name);
            BinaryPrimitives.WriteUInt32LittleEndian(h[4..], index == 3 ? 3u : 1u); // SHT_STRTAB or SHT_PROGBITS
            BinaryPrimitives.WriteUInt64LittleEndian(h[0x18..], (ulong)offset);
            BinaryPrimitives.WriteUInt64LittleEndian(h[0x20..], (ulong)size);
        }

        Section(1, 1, rodataOffset, rodataBytes.Length);
        Section(2, 9, infoOffset, info.Length);
        Section(3, 18, namesOffset, names.Length);
        return elf;
    }

    public sealed record CpioEntry(long Offset, string Name, uint Mode, uint Inode, uint Mtime, byte[] Data);

    /// <summary>Reads newc archives one after another from <paramref name="offset"/>, skipping zero padding between them, as the kernel does.</summary>
    public static List<CpioEntry> ReadNewc(byte[] bytes, long offset = 0)
    {
        var entries = new List<CpioEntry>();
        while (offset < bytes.Length)
        {
            if (bytes[offset] == 0)
            {
                offset++;
                continue;
            }

            (offset % 4).Should().Be(0, $"an entry at {offset} starts on a 4-byte boundary");
            Encoding.ASCII.GetString(bytes, (int)offset, 6).Should().Be("070701");
            uint Field(int i) => uint.Parse(Encoding.ASCII.GetString(bytes, (int)offset + 6 + (i * 8), 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            uint inode = Field(0), mode = Field(1), mtime = Field(5), size = Field(6), nameSize = Field(11);
            string name = Encoding.UTF8.GetString(bytes, (int)offset + 110, (int)nameSize - 1);
            long data = Align(offset + 110 + nameSize);
            entries.Add(new CpioEntry(offset, name, mode, inode, mtime, bytes[(int)data..(int)(data + size)]));
            offset = Align(data + size);
        }

        return entries;
    }

    private static long Align(long x) => (x + 3) & ~3L;
}
