using System.Buffers.Binary;

namespace PcieEmu.Pci.Config;

/// <summary>
/// Configuration space as three parallel byte arrays: values, a writable mask and a write-1-to-clear mask.
/// A guest write changes only writable bits and clears W1C bits written as 1; everything else is read-only.
/// Semantics beyond masks (BAR decode, MSI enable, FLR…) belong to <see cref="PciFunction"/> and the
/// capabilities, which observe writes. Built by <see cref="PciFunctionBuilder"/>; devices and hosts only read it.
/// Not thread-safe: read it under the function lock (<see cref="PciFunction.Sync"/>), which serialises every access.
/// </summary>
public sealed class ConfigSpace
{
    private readonly byte[] _value;
    private readonly byte[] _writable;
    private readonly byte[] _w1c;

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is neither 256 nor 4096.</exception>
    internal ConfigSpace(int size)
    {
        if (size != PciConfigRegisters.StandardSize && size != PciConfigRegisters.ExtendedSize)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "config space is 256 or 4096 bytes");
        }

        Size = size;
        _value = new byte[size];
        _writable = new byte[size];
        _w1c = new byte[size];
    }

    /// <summary>Bytes of configuration space: 256 (conventional) or 4096 (PCI Express extended).</summary>
    public int Size { get; }

    /// <summary>True for the 4 KiB PCI Express space, where extended capabilities live from 0x100.</summary>
    public bool IsExtended => Size == PciConfigRegisters.ExtendedSize;

    /// <summary>The current values, without the masks (a live view: it changes with the next write).</summary>
    public ReadOnlySpan<byte> Bytes => _value;

    /// <summary>Guest-style read of 1, 2 or 4 bytes; bytes beyond the end read as 0xFF.</summary>
    internal uint Read(int offset, int length)
    {
        CheckLength(length);
        uint result = 0;
        for (int i = 0; i < length; i++)
        {
            int at = offset + i;
            uint b = at >= 0 && at < Size ? _value[at] : 0xFFu;
            result |= b << (8 * i);
        }

        return result;
    }

    /// <summary>Guest-style write through the masks. Returns the previous value of the written bytes.</summary>
    internal uint Write(int offset, int length, uint value)
    {
        CheckLength(length);
        uint old = 0;
        for (int i = 0; i < length; i++)
        {
            int at = offset + i;
            if (at < 0 || at >= Size)
            {
                continue;
            }

            byte v = (byte)(value >> (8 * i));
            byte before = _value[at];
            old |= (uint)before << (8 * i);
            byte after = (byte)((before & ~_writable[at]) | (v & _writable[at]));
            after &= (byte)~(v & _w1c[at]);
            _value[at] = after;
        }

        return old;
    }

    private static void CheckLength(int length)
    {
        if (length is < 1 or > 4)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "config accesses are 1 to 4 bytes; split longer ones");
        }
    }

    // Device/framework-side accessors: ignore masks (hardware sets its own read-only state).

    /// <summary>The byte at <paramref name="offset"/> (0 … <see cref="Size"/> - 1) as stored: no read side effects.</summary>
    /// <exception cref="IndexOutOfRangeException"><paramref name="offset"/> is outside the space.</exception>
    public byte Get8(int offset) => _value[offset];

    /// <summary>The little-endian 16-bit value at <paramref name="offset"/>, as stored.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The two bytes do not lie inside the space.</exception>
    public ushort Get16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(_value.AsSpan(offset));

    /// <summary>The little-endian 32-bit value at <paramref name="offset"/>, as stored.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The four bytes do not lie inside the space.</exception>
    public uint Get32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_value.AsSpan(offset));

    internal void Set8(int offset, byte value) => _value[offset] = value;

    internal void Set16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_value.AsSpan(offset), value);

    internal void Set32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_value.AsSpan(offset), value);

    internal void SetBits16(int offset, ushort bits, bool on) => Set16(offset, (ushort)(on ? Get16(offset) | bits : Get16(offset) & ~bits));

    /// <summary>Declares a register: its reset value and which bits are writable / W1C.</summary>
    internal void Define(int offset, int length, uint value, uint writable = 0, uint w1c = 0)
    {
        if (offset < 0 || length is not (1 or 2 or 4) || offset + length > Size)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"register at 0x{offset:x}/{length} outside config space");
        }

        for (int i = 0; i < length; i++)
        {
            _value[offset + i] = (byte)(value >> (8 * i));
            _writable[offset + i] = (byte)(writable >> (8 * i));
            _w1c[offset + i] = (byte)(w1c >> (8 * i));
        }
    }

    internal uint WritableMask(int offset, int length)
    {
        uint m = 0;
        for (int i = 0; i < length; i++)
        {
            m |= (uint)_writable[offset + i] << (8 * i);
        }

        return m;
    }

    /// <summary>A copy of the current values, masks included, to restore at reset.</summary>
    internal ConfigImage Capture() => new((byte[])_value.Clone(), (byte[])_writable.Clone(), (byte[])_w1c.Clone());

    internal void Restore(ConfigImage image)
    {
        image.Value.CopyTo(_value, 0);
        image.Writable.CopyTo(_writable, 0);
        image.W1c.CopyTo(_w1c, 0);
    }

    internal sealed record ConfigImage(byte[] Value, byte[] Writable, byte[] W1c);
}
