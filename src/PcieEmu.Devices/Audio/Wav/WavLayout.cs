using System.Buffers.Binary;

namespace PcieEmu.Devices.Audio.Wav;

/// <summary>RIFF/WAVE constants and the header <see cref="WavWriter"/> writes.</summary>
internal static class WavLayout
{
    public const ushort TagPcm = 0x0001;
    public const ushort TagIeeeFloat = 0x0003;
    public const ushort TagExtensible = 0xFFFE;

    /// <summary>Bytes 2..15 of KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT as stored (the first two are the tag).</summary>
    public static ReadOnlySpan<byte> SubFormatGuidTail =>
        [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];

    public static uint FourCc(string s) => (uint)(s[0] | (s[1] << 8) | (s[2] << 16) | (s[3] << 24));

    public static readonly uint Riff = FourCc("RIFF");
    public static readonly uint Wave = FourCc("WAVE");
    public static readonly uint Fmt = FourCc("fmt ");
    public static readonly uint Data = FourCc("data");
    public static readonly uint Fact = FourCc("fact");

    /// <summary>
    /// The header for <paramref name="format"/> (written once, then patched): S24_LE always, and any format with
    /// more than two channels, as WAVE_FORMAT_EXTENSIBLE; otherwise PCM (S16/S32) or IEEE_FLOAT (FLOAT_LE).
    /// FLOAT_LE gets a fact chunk. Sizes are those of an empty file.
    /// </summary>
    public static Header BuildHeader(AudioFormat format)
    {
        bool isFloat = format.Format == SampleFormat.FloatLe;
        bool extensible = format.Format == SampleFormat.S24Le || format.Channels > 2;
        int fmtSize = extensible ? 40 : isFloat ? 18 : 16;
        int length = 12 + 8 + fmtSize + (isFloat ? 12 : 0) + 8;
        var bytes = new byte[length];
        Span<byte> h = bytes;
        int containerBytes = format.BytesPerSample;
        int blockAlign = containerBytes * format.Channels;

        BinaryPrimitives.WriteUInt32LittleEndian(h, Riff);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)(length - 8));
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], Wave);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], Fmt);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], (uint)fmtSize);
        Span<byte> f = h.Slice(20, fmtSize);
        ushort tag = extensible ? TagExtensible : isFloat ? TagIeeeFloat : TagPcm;
        BinaryPrimitives.WriteUInt16LittleEndian(f, tag);
        BinaryPrimitives.WriteUInt16LittleEndian(f[2..], (ushort)format.Channels);
        BinaryPrimitives.WriteUInt32LittleEndian(f[4..], (uint)format.Rate);
        BinaryPrimitives.WriteUInt32LittleEndian(f[8..], (uint)(format.Rate * (long)blockAlign));
        BinaryPrimitives.WriteUInt16LittleEndian(f[12..], (ushort)blockAlign);
        BinaryPrimitives.WriteUInt16LittleEndian(f[14..], (ushort)(containerBytes * 8));
        if (fmtSize >= 18)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(f[16..], (ushort)(fmtSize - 18)); // cbSize: 0 or 22
        }

        if (extensible)
        {
            int validBits = format.Format == SampleFormat.S24Le ? 24 : containerBytes * 8;
            uint channelMask = format.Channels switch { 1 => 0x4, 2 => 0x3, _ => 0 }; // FC; FL|FR; unassigned
            BinaryPrimitives.WriteUInt16LittleEndian(f[18..], (ushort)validBits);
            BinaryPrimitives.WriteUInt32LittleEndian(f[20..], channelMask);
            BinaryPrimitives.WriteUInt16LittleEndian(f[24..], isFloat ? TagIeeeFloat : TagPcm);
            SubFormatGuidTail.CopyTo(f[26..]);
        }

        int at = 20 + fmtSize;
        int factOffset = -1;
        if (isFloat)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(h[at..], Fact);
            BinaryPrimitives.WriteUInt32LittleEndian(h[(at + 4)..], 4);
            factOffset = at + 8;
            at += 12;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(h[at..], Data);
        return new Header(bytes, at + 4, factOffset);
    }

    /// <param name="Bytes">The header as written for an empty file.</param>
    /// <param name="DataSizeOffset">Where the data chunk's size is.</param>
    /// <param name="FactSampleLengthOffset">Where the fact chunk's dwSampleLength is, or -1.</param>
    internal sealed record Header(byte[] Bytes, int DataSizeOffset, int FactSampleLengthOffset);

    public static string TagName(int tag) => tag switch
    {
        0x0001 => "PCM",
        0x0002 => "MS ADPCM",
        0x0003 => "IEEE float",
        0x0006 => "A-law",
        0x0007 => "µ-law",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0050 => "MPEG",
        0x0055 => "MPEG layer 3",
        0x0092 => "Dolby AC-3 SPDIF",
        0xFFFE => "extensible",
        _ => "unknown",
    };
}
