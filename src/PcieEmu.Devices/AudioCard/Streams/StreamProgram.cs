using System.Buffers.Binary;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Dma;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>What the driver programmed into a stream's registers, read at RUN (spec §9.1).</summary>
internal readonly record struct StreamRegisters(uint Fmt, ulong Bdl, uint Bdln, uint Cbl, ulong PosBuf);

/// <summary>One descriptor (spec §10) with its place in the cyclic buffer.</summary>
internal readonly record struct Segment(ulong Address, uint Length, bool Ioc, uint BufferOffset);

/// <summary>
/// A validated stream setup (spec §9.3, §10): format, descriptors and where the IOC boundaries fall. Built once
/// at RUN; the card never re-reads the list while the stream runs.
/// </summary>
internal sealed class StreamProgram
{
    public const int MaxDescriptors = 256;
    public const int DescriptorBytes = 16;

    private StreamProgram(AudioFormat format, Segment[] segments, uint bufferBytes, long[] iocFrames, ulong posBufAddress, bool posBufEnabled)
    {
        Format = format;
        Segments = segments;
        BufferBytes = bufferBytes;
        BufferFrames = bufferBytes / format.FrameBytes;
        IocFrames = iocFrames;
        PosBufAddress = posBufAddress;
        PosBufEnabled = posBufEnabled;
    }

    public AudioFormat Format { get; }

    public Segment[] Segments { get; }

    public uint BufferBytes { get; }

    public long BufferFrames { get; }

    /// <summary>Frame offsets within the buffer (1..BufferFrames, ascending) where a descriptor with IOC ends.</summary>
    public long[] IocFrames { get; }

    public ulong PosBufAddress { get; }

    public bool PosBufEnabled { get; }

    /// <summary>
    /// Validates and builds a program; the first rule broken names the error (spec §6.3). With
    /// <paramref name="localOnly"/> the list is read only from local memory and <see cref="AudioDmaErr"/>
    /// is returned as <c>null</c> with <paramref name="wouldBlock"/> set when it needs message DMA.
    /// </summary>
    public static AudioDmaErr TryBuild(in StreamRegisters r, StreamLayout layout, DmaConstraints dma, IDmaSpace space,
        bool localOnly, out StreamProgram? program, out bool wouldBlock, out string detail)
    {
        program = null;
        wouldBlock = false;
        detail = "";
        if (!TryDecodeFormat(r.Fmt, layout, out var format, out detail))
        {
            return AudioDmaErr.Format;
        }

        if (r.Bdl == 0 || r.Bdln == 0)
        {
            detail = $"SD_BDL 0x{r.Bdl:x}, SD_BDLN {r.Bdln}";
            return AudioDmaErr.NoBdl;
        }

        if (r.Bdln > MaxDescriptors)
        {
            detail = $"SD_BDLN {r.Bdln} > {MaxDescriptors}";
            return AudioDmaErr.BdlLength;
        }

        int listBytes = (int)r.Bdln * DescriptorBytes;
        if ((r.Bdl & (dma.Alignment - 1)) != 0)
        {
            detail = $"descriptor list at 0x{r.Bdl:x} not aligned to {dma.Alignment}";
            return AudioDmaErr.Align;
        }

        if (r.Bdl > dma.AddressLimit || (ulong)(listBytes - 1) > dma.AddressLimit - r.Bdl)
        {
            detail = $"descriptor list at 0x{r.Bdl:x} beyond {dma.AddressBits} address bits";
            return AudioDmaErr.AddrBits;
        }

        Span<byte> list = stackalloc byte[MaxDescriptors * DescriptorBytes];
        list = list[..listBytes];
        var read = localOnly ? space.ReadLocal(r.Bdl, list) : space.Read(r.Bdl, list);
        if (read == DmaResult.WouldBlock)
        {
            wouldBlock = true;
            return AudioDmaErr.None;
        }

        if (read != DmaResult.Ok)
        {
            detail = $"descriptor list at 0x{r.Bdl:x} ({listBytes} B): {read}{FaultText(space, r.Bdl, (ulong)listBytes, DmaAccess.Read)}";
            return AudioDmaErrors.Of(read);
        }

        var access = layout.Direction == StreamDirection.Playback ? DmaAccess.Read : DmaAccess.Write;
        var segments = new Segment[r.Bdln];
        var ioc = new List<long>();
        ulong total = 0;
        for (int i = 0; i < segments.Length; i++)
        {
            var d = list.Slice(i * DescriptorBytes, DescriptorBytes);
            ulong addr = BinaryPrimitives.ReadUInt64LittleEndian(d);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(d[8..]);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(d[12..]);
            var code = CheckSegment(addr, len, flags, format, dma, space, access, out detail);
            if (code != AudioDmaErr.None)
            {
                detail = $"descriptor {i}: {detail}";
                return code;
            }

            segments[i] = new Segment(addr, len, (flags & 1) != 0, (uint)total);
            total += len;
            if (segments[i].Ioc)
            {
                ioc.Add((long)(total / (ulong)format.FrameBytes));
            }
        }

        if (r.Cbl == 0 || total != r.Cbl)
        {
            detail = $"SD_CBL {r.Cbl} but the descriptors add up to {total}";
            return AudioDmaErr.Cbl;
        }

        bool posBuf = (r.PosBuf & 1) != 0;
        ulong posAddress = r.PosBuf & ~0x3FUL;
        if (posBuf)
        {
            var check = space.Check(posAddress, 16, DmaAccess.Write);
            if (check != DmaResult.Ok)
            {
                detail = $"position buffer at 0x{posAddress:x}: {check}{FaultText(space, posAddress, 16, DmaAccess.Write)}";
                return AudioDmaErrors.Of(check);
            }
        }

        program = new StreamProgram(format, segments, r.Cbl, [.. ioc], posAddress, posBuf);
        return AudioDmaErr.None;
    }

    private static AudioDmaErr CheckSegment(ulong addr, uint len, uint flags, AudioFormat format, DmaConstraints dma,
        IDmaSpace space, DmaAccess access, out string detail)
    {
        detail = $"[0x{addr:x}, +{len})";
        if ((addr & (dma.Alignment - 1)) != 0)
        {
            return AudioDmaErr.Align;
        }

        if (len == 0 || len > dma.MaxSegmentBytes)
        {
            return AudioDmaErr.Length;
        }

        if (len % (uint)format.FrameBytes != 0)
        {
            detail += $" is not a multiple of the {format.FrameBytes}-byte frame";
            return AudioDmaErr.Frame;
        }

        if (addr > dma.AddressLimit || (ulong)(len - 1) > dma.AddressLimit - addr)
        {
            return AudioDmaErr.AddrBits;
        }

        if (dma.BoundaryBits < 64 && (addr >> dma.BoundaryBits) != ((addr + len - 1) >> dma.BoundaryBits))
        {
            detail += $" crosses a 2^{dma.BoundaryBits} boundary";
            return AudioDmaErr.Boundary;
        }

        var check = space.Check(addr, len, access);
        if (check != DmaResult.Ok)
        {
            detail += $": {check}{FaultText(space, addr, len, access)}";
            return AudioDmaErrors.Of(check);
        }

        if ((flags & ~1u) != 0)
        {
            detail += $" has reserved flag bits 0x{flags & ~1u:x}";
            return AudioDmaErr.DescReserved;
        }

        return AudioDmaErr.None;
    }

    /// <summary>", first bad IOVA 0x…" for a transfer over [address, +length) that failed, for error details (spec §10).</summary>
    public static string FaultText(IDmaSpace space, ulong address, ulong length, DmaAccess access) =>
        space.FirstFault(address, length, access) is { } bad ? $", first bad IOVA 0x{bad:x}" : "; the range is mapped now";

    /// <summary><see cref="FaultText"/> for a transfer of <paramref name="length"/> bytes at byte <paramref name="offset"/> of the cyclic buffer.</summary>
    public string BufferFaultText(IDmaSpace space, long offset, int length, DmaAccess access)
    {
        long at = offset % BufferBytes;
        for (int done = 0; done < length;)
        {
            var seg = Segments[SegmentAt((uint)at)];
            uint inSegment = (uint)at - seg.BufferOffset;
            int n = (int)Math.Min(seg.Length - inSegment, (uint)(length - done));
            if (space.FirstFault(seg.Address + inSegment, (ulong)n, access) is not null)
            {
                return FaultText(space, seg.Address + inSegment, (ulong)n, access);
            }

            done += n;
            at = (at + n) % BufferBytes;
        }

        return "; the range is mapped now";
    }

    public static bool TryDecodeFormat(uint fmt, StreamLayout layout, out AudioFormat format, out string detail)
    {
        format = default;
        int formatCode = (int)((fmt & AudioSdFields.Fmt.Format) >> AudioSdFields.Fmt.FormatShift);
        int rateCode = (int)((fmt & AudioSdFields.Fmt.Rate) >> AudioSdFields.Fmt.RateShift);
        int channels = (int)((fmt & AudioSdFields.Fmt.Channels) >> AudioSdFields.Fmt.ChannelsShift) + 1;
        if (formatCode > 3 || !layout.Formats.Contains(((SampleFormat)formatCode).AlsaName()))
        {
            detail = $"format code {formatCode} is not offered";
            return false;
        }

        if (rateCode > 3 || !layout.Rates.Contains(SampleFormats.Rates[rateCode]))
        {
            detail = $"rate code {rateCode} is not offered";
            return false;
        }

        if (channels > layout.MaxChannels)
        {
            detail = $"{channels} channels, at most {layout.MaxChannels}";
            return false;
        }

        format = new AudioFormat((SampleFormat)formatCode, SampleFormats.Rates[rateCode], channels);
        detail = "";
        return true;
    }

    /// <summary>DMA of <paramref name="data"/>.Length bytes at byte <paramref name="offset"/> of the cyclic buffer (wrapping).</summary>
    public DmaResult ReadBuffer(IDmaSpace space, long offset, Span<byte> data) => Move(space, offset, data, default, write: false);

    public DmaResult WriteBuffer(IDmaSpace space, long offset, ReadOnlySpan<byte> data) => Move(space, offset, default, data, write: true);

    private DmaResult Move(IDmaSpace space, long offset, Span<byte> into, ReadOnlySpan<byte> from, bool write)
    {
        int length = write ? from.Length : into.Length;
        long at = offset % BufferBytes;
        int done = 0;
        while (done < length)
        {
            int s = SegmentAt((uint)at);
            var seg = Segments[s];
            uint inSegment = (uint)at - seg.BufferOffset;
            int n = (int)Math.Min(seg.Length - inSegment, (uint)(length - done));
            var r = write
                ? space.Write(seg.Address + inSegment, from.Slice(done, n))
                : space.Read(seg.Address + inSegment, into.Slice(done, n));
            if (r != DmaResult.Ok)
            {
                return r;
            }

            done += n;
            at = (at + n) % BufferBytes;
        }

        return DmaResult.Ok;
    }

    private int SegmentAt(uint bufferOffset)
    {
        int lo = 0;
        int hi = Segments.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >>> 1;
            if (Segments[mid].BufferOffset <= bufferOffset)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    /// <summary>IOC boundaries crossed going from frame <paramref name="from"/> (exclusive) to <paramref name="to"/> (inclusive).</summary>
    public long IocCrossings(long from, long to)
    {
        long n = 0;
        foreach (long p in IocFrames)
        {
            n += FloorDiv(to - p, BufferFrames) - FloorDiv(from - p, BufferFrames);
        }

        return n;
    }

    /// <summary>The first frame after <paramref name="from"/> at which an IOC boundary falls (or long.MaxValue).</summary>
    public long NextIocFrame(long from)
    {
        if (IocFrames.Length == 0)
        {
            return long.MaxValue;
        }

        long cycle = FloorDiv(from, BufferFrames);
        long inBuffer = from - (cycle * BufferFrames);
        foreach (long p in IocFrames)
        {
            if (p > inBuffer)
            {
                return (cycle * BufferFrames) + p;
            }
        }

        return ((cycle + 1) * BufferFrames) + IocFrames[0];
    }

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);
}
