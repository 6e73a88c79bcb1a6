using System.Buffers.Binary;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Wav;

namespace PcieEmu.Devices.Tests.Audio.Wav;

/// <summary>Broken and unsupported files: always a <see cref="WavFormatException"/> with a clear message.</summary>
public sealed class WavMalformedTests
{
    private static readonly byte[] Fmt16 = WavBuilder.PcmFmt(1, 2, 48000, 16);

    public static TheoryData<string, byte[], string> Cases() => new()
    {
        { "empty file", [], "*shorter than a RIFF header*" },
        { "5 bytes", [(byte)'R', (byte)'I', (byte)'F', (byte)'F', 0], "*shorter than a RIFF header*" },
        { "not RIFF", new WavBuilder().Build(riff: "OggS"), "*not a RIFF file*" },
        { "RIFX", new WavBuilder().Build(riff: "RIFX"), "*big-endian RIFX*" },
        { "RF64", new WavBuilder().Build(riff: "RF64"), "*RF64*" },
        { "not WAVE", new WavBuilder().Build(wave: "AVI "), "*not 'WAVE'*" },
        { "header only", new WavBuilder().Build(), "*no fmt chunk*" },
        { "truncated chunk header", new WavBuilder().Raw(0x66, 0x6D, 0x74).Build(), "*no fmt chunk*" },
        { "no data chunk", new WavBuilder().Chunk("fmt ", Fmt16).Build(), "*no data chunk*" },
        { "fmt too short", new WavBuilder().Chunk("fmt ", new byte[14]).Chunk("data", new byte[4]).Build(), "*fmt chunk is 14 bytes*" },
        { "fmt size beyond file", new WavBuilder().Chunk("fmt ", Fmt16, declaredSize: 0xFFFFFFF0).Build(), "*'fmt ' chunk*declares 4294967280 bytes*" },
        { "LIST size beyond file", new WavBuilder().Chunk("LIST", new byte[4], declaredSize: 1000).Chunk("fmt ", Fmt16).Build(), "*'LIST' chunk*1000 bytes*" },
        { "data size beyond file", new WavBuilder().Chunk("fmt ", Fmt16).Chunk("data", new byte[8], declaredSize: 4000).Build(), "*data chunk*4000 bytes but only 8 remain*" },
        { "data before fmt", new WavBuilder().Chunk("data", new byte[4]).Chunk("fmt ", Fmt16).Build(), "*data chunk*before any fmt*" },
        { "8-bit PCM", File(WavBuilder.PcmFmt(1, 1, 8000, 8)), "*unsupported WAV encoding*PCM*8-bit*" },
        { "12-bit PCM", File(WavBuilder.PcmFmt(1, 1, 8000, 12, blockAlign: 2)), "*unsupported WAV encoding*12-bit*" },
        { "64-bit float", File(WavBuilder.PcmFmt(3, 1, 48000, 64)), "*unsupported WAV encoding*IEEE float*64-bit*" },
        { "16-bit float", File(WavBuilder.PcmFmt(3, 1, 48000, 16)), "*unsupported WAV encoding*IEEE float*16-bit*" },
        { "A-law", File(WavBuilder.PcmFmt(6, 1, 8000, 8)), "*format tag 0x0006 (A-law)*" },
        { "µ-law", File(WavBuilder.PcmFmt(7, 1, 8000, 8)), "*format tag 0x0007 (µ-law)*" },
        { "MS ADPCM", File(WavBuilder.PcmFmt(2, 1, 8000, 4, blockAlign: 256)), "*MS ADPCM*" },
        { "MP3", File(WavBuilder.PcmFmt(0x55, 2, 44100, 0, blockAlign: 1)), "*MPEG layer 3*" },
        { "extensible fmt too short", File(WavBuilder.PcmFmt(0xFFFE, 2, 48000, 16, size: 18)), "*EXTENSIBLE fmt chunk needs 40 bytes*" },
        { "extensible small cbSize", File(SetUInt16(WavBuilder.ExtensibleFmt(2, 48000, 16, 16, 1), 16, 0)), "*cbSize 0*" },
        { "extensible unknown GUID", File(WavBuilder.ExtensibleFmt(2, 48000, 16, 16, 1, standardGuid: false)), "*sub-format*" },
        { "extensible A-law", File(WavBuilder.ExtensibleFmt(1, 8000, 8, 8, 6)), "*sub-format 0x0006 (A-law)*" },
        { "extensible 8-bit", File(WavBuilder.ExtensibleFmt(1, 8000, 8, 8, 1)), "*8-bit*" },
        { "valid bits above container", File(WavBuilder.ExtensibleFmt(2, 48000, 16, 20, 1)), "*16-bit samples (20 valid bits)*" },
        { "float with 24 valid bits", File(WavBuilder.ExtensibleFmt(2, 48000, 32, 24, 3)), "*IEEE float*24 valid bits*" },
        { "zero channels", File(WavBuilder.PcmFmt(1, 0, 48000, 16, blockAlign: 2)), "*0 channels*" },
        { "zero rate", File(WavBuilder.PcmFmt(1, 2, 0, 16)), "*0 frames per second*" },
        { "block align mismatch", File(WavBuilder.PcmFmt(1, 2, 48000, 16, blockAlign: 6)), "*nBlockAlign 6 does not match 2 channels*" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Malformed_or_unsupported_files_throw_WavFormatException_naming_the_problem(string name, byte[] file, string message)
    {
        FluentActions.Invoking(() => new WavReader(new MemoryStream(file)))
            .Should().Throw<WavFormatException>(name).WithMessage(message);
    }

    [Fact]
    public void Every_truncation_of_a_valid_file_either_parses_within_the_file_or_throws_WavFormatException()
    {
        byte[] file = new WavBuilder()
            .Chunk("LIST", new byte[9])
            .Chunk("fmt ", WavBuilder.ExtensibleFmt(2, 48000, 32, 24, 1))
            .Chunk("data", Samples.I32(1 << 8, 2 << 8, 3 << 8, 4 << 8))
            .Build();
        for (int length = 0; length < file.Length; length++)
        {
            var stream = new MemoryStream(file, 0, length);
            try
            {
                using var r = new WavReader(stream);
                false.Should().BeTrue($"a file cut at {length} of {file.Length} bytes has a data chunk that does not fit");
            }
            catch (WavFormatException)
            {
            }
        }
    }

    [Fact]
    public void Random_corruption_of_the_header_never_escapes_as_another_exception()
    {
        byte[] good = new WavBuilder()
            .Chunk("JUNK", new byte[3])
            .Chunk("fmt ", WavBuilder.PcmFmt(1, 2, 48000, 24))
            .Chunk("data", Samples.S24Packed(1, 2, 3, 4, 5, 6))
            .Build();
        var random = new Random(1234);
        for (int trial = 0; trial < 20000; trial++)
        {
            byte[] file = (byte[])good.Clone();
            int flips = random.Next(1, 4);
            for (int i = 0; i < flips; i++)
            {
                file[random.Next(0, 60)] = (byte)random.Next(256);
            }

            try
            {
                using var r = new WavReader(new MemoryStream(file));
                var buf = new byte[Math.Min(r.FrameCount, 64) * r.Format.FrameBytes];
                r.ReadFrames(buf);
                (r.DataOffset + r.DataLength).Should().BeLessThanOrEqualTo(file.Length);
            }
            catch (WavFormatException)
            {
            }
        }
    }

    private static byte[] File(byte[] fmt) => new WavBuilder().Chunk("fmt ", fmt).Chunk("data", new byte[64]).Build();

    private static byte[] SetUInt16(byte[] b, int offset, ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(offset), value);
        return b;
    }
}
