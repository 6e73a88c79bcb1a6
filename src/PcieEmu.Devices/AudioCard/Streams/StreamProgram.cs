using System.Buffers.Binary;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Dma;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>What the driver programmed into a stream's registers, read at RUN (spec §9.1).</summary>
internal readonly record struct StreamRegisters(uint Fmt, ulong Bdl, uint Bdln, uint Cbl, ulong PosBuf);

/// <summary>
/// Why a stream was refused at RUN or stopped while running: the ERRCODE and what the card knows of the driver's
/// mistake (the register and value, the first bad byte, the descriptor), for the violation report.
/// </summary>
internal readonly record struct StreamFault(AudioDmaErr Code, string What, AudioSdRegister? Register = null, ulong? Value = null,
    ulong? BadAddress = null, int? Descriptor = null);

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
    /// Validates and builds a program; the first rule broken names the error (spec §6.3) in <paramref name="fault"/>.
    /// With <paramref name="localOnly"/> the list is read only from local memory and <see cref="AudioDmaErr.None"/>
    /// is returned with <paramref name="wouldBlock"/> set when it needs message DMA.
    /// </summary>
    public static AudioDmaErr TryBuild(in StreamRegisters r, StreamLayout layout, DmaConstraints dma, IDmaSpace space,
        bool localOnly, out StreamProgram? program, out bool wouldBlock, out StreamFault fault)
    {
        program = null;
        wouldBlock = false;
        fault = default;
        if (!TryDecodeFormat(r.Fmt, layout, out var format, out string formatProblem))
        {
            fault = new StreamFault(AudioDmaErr.Format, $"SD_FMT 0x{r.Fmt:x}: {formatProblem}", AudioSdRegister.Fmt, r.Fmt);
            return fault.Code;
        }

        if (r.Bdl == 0 || r.Bdln == 0)
        {
            fault = r.Bdl == 0
                ? new StreamFault(AudioDmaErr.NoBdl, $"no descriptor list: SD_BDL is 0 (SD_BDLN {r.Bdln})", AudioSdRegister.Bdl, r.Bdl)
                : new StreamFault(AudioDmaErr.NoBdl, $"no descriptor list: SD_BDLN is 0 (SD_BDL 0x{r.Bdl:x})", AudioSdRegister.Bdln, r.Bdln);
            return fault.Code;
        }

        if (r.Bdln > MaxDescriptors)
        {
            fault = new StreamFault(AudioDmaErr.BdlLength, $"SD_BDLN {r.Bdln} names more than {MaxDescriptors} descriptors", AudioSdRegister.Bdln, r.Bdln);
            return fault.Code;
        }

        int listBytes = (int)r.Bdln * DescriptorBytes;
        if ((r.Bdl & (dma.Alignment - 1)) != 0)
        {
            fault = new StreamFault(AudioDmaErr.Align, $"the descriptor list at 0x{r.Bdl:x} is not aligned to {dma.Alignment} B",
                AudioSdRegister.Bdl, r.Bdl, BadAddress: r.Bdl);
            return fault.Code;
        }

        if (r.Bdl > dma.AddressLimit || (ulong)(listBytes - 1) > dma.AddressLimit - r.Bdl)
        {
            fault = new StreamFault(AudioDmaErr.AddrBits, $"the descriptor list [0x{r.Bdl:x}, +{listBytes}) reaches beyond the card's {dma.AddressBits} address bits",
                AudioSdRegister.Bdl, r.Bdl, BadAddress: Math.Max(r.Bdl, dma.AddressLimit + 1));
            return fault.Code;
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
            fault = new StreamFault(AudioDmaErrors.Of(read), $"the card could not read the descriptor list [0x{r.Bdl:x}, +{listBytes}): {read}",
                AudioSdRegister.Bdl, r.Bdl, BadAddress: space.FirstFault(r.Bdl, (ulong)listBytes, DmaAccess.Read));
            return fault.Code;
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
            var code = CheckSegment(addr, len, flags, format, dma, space, access, out string what, out ulong? bad);
            if (code != AudioDmaErr.None)
            {
                fault = new StreamFault(code, $"descriptor {i} of {segments.Length}, segment [0x{addr:x}, +{len}){what}",
                    BadAddress: bad, Descriptor: i, Value: code == AudioDmaErr.DescReserved ? flags : null);
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
            fault = new StreamFault(AudioDmaErr.Cbl, $"SD_CBL is {r.Cbl} but the {segments.Length} descriptors add up to {total} B", AudioSdRegister.Cbl, r.Cbl);
            return fault.Code;
        }

        bool posBuf = (r.PosBuf & 1) != 0;
        ulong posAddress = r.PosBuf & ~0x3FUL;
        if (posBuf)
        {
            var check = space.Check(posAddress, 16, DmaAccess.Write);
            if (check != DmaResult.Ok)
            {
                fault = new StreamFault(AudioDmaErrors.Of(check), $"the position buffer at 0x{posAddress:x} cannot be written: {check}",
                    AudioSdRegister.Posbuf, r.PosBuf, BadAddress: space.FirstFault(posAddress, 16, DmaAccess.Write));
                return fault.Code;
            }
        }

        program = new StreamProgram(format, segments, r.Cbl, [.. ioc], posAddress, posBuf);
        return AudioDmaErr.None;
    }

    /// <summary>Checks one descriptor (spec §10 rule 2); on a break, <paramref name="what"/> completes the sentence and <paramref name="bad"/> is the first bad byte.</summary>
    private static AudioDmaErr CheckSegment(ulong addr, uint len, uint flags, AudioFormat format, DmaConstraints dma,
        IDmaSpace space, DmaAccess access, out string what, out ulong? bad)
    {
        bad = null;
        what = "";
        if ((addr & (dma.Alignment - 1)) != 0)
        {
            what = $" is not aligned to {dma.Alignment} B";
            bad = addr;
            return AudioDmaErr.Align;
        }

        if (len == 0 || len > dma.MaxSegmentBytes)
        {
            what = len == 0 ? " is empty" : $" is longer than MAXSEG ({dma.MaxSegmentBytes} B)";
            bad = len == 0 ? addr : addr + dma.MaxSegmentBytes;
            return AudioDmaErr.Length;
        }

        if (len % (uint)format.FrameBytes != 0)
        {
            what = $" is not a whole number of {format.FrameBytes}-byte frames";
            return AudioDmaErr.Frame;
        }

        if (addr > dma.AddressLimit || (ulong)(len - 1) > dma.AddressLimit - addr)
        {
            what = $" reaches beyond the card's {dma.AddressBits} address bits";
            bad = Math.Max(addr, dma.AddressLimit + 1);
            return AudioDmaErr.AddrBits;
        }

        if (dma.BoundaryBits < 64 && (addr >> dma.BoundaryBits) != ((addr + len - 1) >> dma.BoundaryBits))
        {
            what = $" crosses a 2^{dma.BoundaryBits} boundary";
            bad = ((addr >> dma.BoundaryBits) + 1) << dma.BoundaryBits;
            return AudioDmaErr.Boundary;
        }

        var check = space.Check(addr, len, access);
        if (check != DmaResult.Ok)
        {
            what = check switch
            {
                DmaResult.Unmapped => " is not mapped for DMA",
                DmaResult.AccessDenied => access == DmaAccess.Read ? " is not mapped readable by the device" : " is not mapped writable by the device",
                DmaResult.OwnBar => " lies in one of the card's own BARs",
                DmaResult.BusMasterDisabled => ": bus mastering is off",
                DmaResult.NotInD0 => ": the function is not in D0",
                _ => $": {check}",
            };
            bad = space.FirstFault(addr, len, access);
            return AudioDmaErrors.Of(check);
        }

        if ((flags & ~1u) != 0)
        {
            what = $" has reserved FLAGS bits 0x{flags & ~1u:x} set";
            return AudioDmaErr.DescReserved;
        }

        return AudioDmaErr.None;
    }

    /// <summary>
    /// The first bad IOVA of a transfer of <paramref name="length"/> bytes at byte <paramref name="offset"/> of the
    /// cyclic buffer that failed (spec §10), or null when every byte passes now.
    /// </summary>
    public ulong? BufferFirstFault(IDmaSpace space, long offset, int length, DmaAccess access)
    {
        long at = offset % BufferBytes;
        for (int done = 0; done < length;)
        {
            var seg = Segments[SegmentAt((uint)at)];
            uint inSegment = (uint)at - seg.BufferOffset;
            int n = (int)Math.Min(seg.Length - inSegment, (uint)(length - done));
            if (space.FirstFault(seg.Address + inSegment, (ulong)n, access) is { } bad)
            {
                return bad;
            }

            done += n;
            at = (at + n) % BufferBytes;
        }

        return null;
    }

    /// <summary>The descriptor whose segment holds byte <paramref name="offset"/> of the cyclic buffer.</summary>
    public int DescriptorAt(long offset) => SegmentAt((uint)(offset % BufferBytes));

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
