namespace PcieEmu.Pci.Bars;

/// <summary>
/// An expansion ROM image (<see cref="PciFunctionBuilder.ExpansionRom"/>): read-only, served to the client as the ROM
/// region; its BAR size is the next power of two ≥ 2 KiB that holds it.
/// </summary>
public sealed class ExpansionRom
{
    /// <summary>Largest image: 16 MiB (the ROM BAR could be larger, but no option ROM is; a bound for what a model may load).</summary>
    public const int MaxImageBytes = 16 << 20;

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="image"/> is empty or larger than <see cref="MaxImageBytes"/>.</exception>
    internal ExpansionRom(byte[] image)
    {
        if (image.Length is 0 or > MaxImageBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(image), "ROM image must be 1 byte .. 16 MiB");
        }

        Image = image;
        Size = Math.Max(2048UL, System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)image.Length));
    }

    /// <summary>The image as given to the builder (not copied: do not change it once the function is built).</summary>
    public byte[] Image { get; }

    /// <summary>The ROM BAR's size in bytes: a power of two, at least 2048 and at least the image's length.</summary>
    public ulong Size { get; }

    /// <summary>Bytes past the image read as 0xFF, as an unprogrammed flash would.</summary>
    internal void Read(ulong offset, Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            ulong at = offset + (ulong)i;
            destination[i] = at < (ulong)Image.Length ? Image[at] : (byte)0xFF;
        }
    }
}
