using System.Buffers.Binary;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Wav;

namespace PcieEmu.Devices.Tests.Audio.Wav;

public sealed class WavWriterTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<SampleFormat, int> FormatsAndChannels()
    {
        var data = new TheoryData<SampleFormat, int>();
        foreach (var f in Enum.GetValues<SampleFormat>())
        {
            foreach (int ch in new[] { 1, 2, 3, 6 })
            {
                data.Add(f, ch);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FormatsAndChannels))]
    public void Every_format_round_trips_through_writer_and_reader_byte_for_byte(SampleFormat sampleFormat, int channels)
    {
        var format = new AudioFormat(sampleFormat, 48000, channels);
        byte[] frames = Samples.Random(format, 5000, seed: (int)sampleFormat * 10 + channels);
        string path = Path.Combine(_dir.Path, "rt.wav");
        using (var w = new WavWriter(path, format, patchIntervalBytes: 1000))
        {
            int at = 0;
            foreach (int n in new[] { 1, 7, 100, 0, 1234 })
            {
                w.Write(frames.AsSpan(at, n * format.FrameBytes));
                at += n * format.FrameBytes;
            }

            w.Write(frames.AsSpan(at));
            w.FramesWritten.Should().Be(5000);
        }

        using var r = WavReader.Open(path);
        r.Format.Should().Be(format);
        r.FrameCount.Should().Be(5000);
        r.FormatTag.Should().Be(sampleFormat == SampleFormat.S24Le || channels > 2 ? 0xFFFE : sampleFormat == SampleFormat.FloatLe ? 3 : 1);
        r.Encoding.Should().Be(sampleFormat switch
        {
            SampleFormat.S16Le => WavSampleEncoding.Pcm16,
            SampleFormat.S24Le => WavSampleEncoding.Pcm24In32,
            SampleFormat.S32Le => WavSampleEncoding.Pcm32,
            _ => WavSampleEncoding.Float32,
        });
        var back = new byte[frames.Length];
        r.ReadFrames(back).Should().Be(5000);
        back.Should().Equal(frames);
        new FileInfo(path).Length.Should().Be(r.DataOffset + frames.Length);
    }

    [Fact]
    public void S16_stereo_header_matches_hand_built_golden_bytes()
    {
        string path = Path.Combine(_dir.Path, "golden16.wav");
        using (var w = new WavWriter(path, new AudioFormat(SampleFormat.S16Le, 48000, 2)))
        {
            w.Write(Samples.S16(1, -1, 0x1234, -0x1234, short.MaxValue, short.MinValue, 0, 2));
        }

        byte[] expected =
        [
            0x52, 0x49, 0x46, 0x46, 0x34, 0x00, 0x00, 0x00, 0x57, 0x41, 0x56, 0x45, // RIFF 52 WAVE
            0x66, 0x6D, 0x74, 0x20, 0x10, 0x00, 0x00, 0x00, // fmt 16
            0x01, 0x00, 0x02, 0x00, 0x80, 0xBB, 0x00, 0x00, 0x00, 0xEE, 0x02, 0x00, 0x04, 0x00, 0x10, 0x00, // PCM 2ch 48000 192000 4 16
            0x64, 0x61, 0x74, 0x61, 0x10, 0x00, 0x00, 0x00, // data 16
            0x01, 0x00, 0xFF, 0xFF, 0x34, 0x12, 0xCC, 0xED, 0xFF, 0x7F, 0x00, 0x80, 0x00, 0x00, 0x02, 0x00,
        ];
        File.ReadAllBytes(path).Should().Equal(expected);
    }

    [Fact]
    public void S24_is_extensible_32_bit_container_24_valid_bits_with_the_sample_at_the_top()
    {
        string path = Path.Combine(_dir.Path, "golden24.wav");
        using (var w = new WavWriter(path, new AudioFormat(SampleFormat.S24Le, 44100, 1)))
        {
            // bits 31:24 are ignored on playback (spec §9.2): 0x7F123456 is the 24-bit value 0x123456
            w.Write(Samples.I32(0x7F123456, -2));
        }

        byte[] expected =
        [
            0x52, 0x49, 0x46, 0x46, 0x44, 0x00, 0x00, 0x00, 0x57, 0x41, 0x56, 0x45, // RIFF 68 WAVE
            0x66, 0x6D, 0x74, 0x20, 0x28, 0x00, 0x00, 0x00, // fmt 40
            0xFE, 0xFF, 0x01, 0x00, 0x44, 0xAC, 0x00, 0x00, 0x10, 0xB1, 0x02, 0x00, 0x04, 0x00, 0x20, 0x00, // EXTENSIBLE 1ch 44100 176400 4 32
            0x16, 0x00, 0x18, 0x00, 0x04, 0x00, 0x00, 0x00, // cbSize 22, 24 valid bits, SPEAKER_FRONT_CENTER
            0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71, // KSDATAFORMAT_SUBTYPE_PCM
            0x64, 0x61, 0x74, 0x61, 0x08, 0x00, 0x00, 0x00, // data 8
            0x00, 0x56, 0x34, 0x12, 0x00, 0xFE, 0xFF, 0xFF, // 0x123456 « 8, −2 « 8
        ];
        File.ReadAllBytes(path).Should().Equal(expected);

        using var r = WavReader.Open(path);
        var back = new byte[8];
        r.ReadFrames(back);
        Samples.ToI32(back).Should().Equal(0x123456, -2); // sign-extended containers
    }

    [Fact]
    public void Float_is_ieee_float_with_cb_size_0_and_a_fact_chunk_counting_frames()
    {
        string path = Path.Combine(_dir.Path, "goldenf.wav");
        using (var w = new WavWriter(path, new AudioFormat(SampleFormat.FloatLe, 48000, 2)))
        {
            w.Write(Samples.F32(0.5f, -1f, 0.25f, 1f));
        }

        byte[] expected =
        [
            0x52, 0x49, 0x46, 0x46, 0x42, 0x00, 0x00, 0x00, 0x57, 0x41, 0x56, 0x45, // RIFF 66 WAVE
            0x66, 0x6D, 0x74, 0x20, 0x12, 0x00, 0x00, 0x00, // fmt 18
            0x03, 0x00, 0x02, 0x00, 0x80, 0xBB, 0x00, 0x00, 0x00, 0xDC, 0x05, 0x00, 0x08, 0x00, 0x20, 0x00, 0x00, 0x00, // IEEE float 2ch 48000 384000 8 32, cbSize 0
            0x66, 0x61, 0x63, 0x74, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, // fact: 2 frames
            0x64, 0x61, 0x74, 0x61, 0x10, 0x00, 0x00, 0x00, // data 16
            0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x80, 0xBF, 0x00, 0x00, 0x80, 0x3E, 0x00, 0x00, 0x80, 0x3F,
        ];
        File.ReadAllBytes(path).Should().Equal(expected);
    }

    [Fact]
    public void A_file_whose_writer_was_never_closed_is_readable_up_to_the_last_patched_block()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        byte[] frames = Samples.Random(format, 10000, seed: 5);
        string path = Path.Combine(_dir.Path, "killed.wav");
        using var w = new WavWriter(path, format, patchIntervalBytes: 4096);
        long lastSeen = 0;
        for (int i = 0; i < 100; i++)
        {
            w.Write(frames.AsSpan(i * 400, 400));
            using var r = WavReader.Open(path); // the writer is still open: as if the process had been killed now
            long fileLength = new FileInfo(path).Length;
            (r.DataOffset + r.DataLength).Should().Be(fileLength, "the header describes exactly the data in the file");
            byte[] header = ReadShared(path).AsSpan(0, 44).ToArray();
            BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4)).Should().Be((uint)(fileLength - 8), "RIFF size patched");
            BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(40)).Should().Be((uint)w.DataBytesInFile, "data size patched, not a streamed 0");
            r.FrameCount.Should().Be(w.DataBytesInFile / 4).And.BeGreaterThanOrEqualTo(lastSeen);
            (w.FramesWritten - r.FrameCount).Should().BeLessThan(4096 / 4, "at most one block is not yet in the file");
            var back = new byte[r.FrameCount * 4];
            r.ReadFrames(back);
            back.Should().Equal(frames.AsSpan(0, back.Length).ToArray());
            lastSeen = r.FrameCount;
        }

        lastSeen.Should().Be(9 * 4096 / 4, "nine 4 KiB blocks of 40000 bytes are in the file");
        w.Flush();
        using (var r = WavReader.Open(path))
        {
            r.FrameCount.Should().Be(10000, "Flush writes the partial block and patches the header");
        }
    }

    [Fact]
    public void The_riff_size_limit_drops_and_counts_frames_beyond_it()
    {
        var format = new AudioFormat(SampleFormat.S16Le, 48000, 2);
        string path = Path.Combine(_dir.Path, "cap.wav");
        using (var w = new WavWriter(path, format, 64, maxDataBytes: 102))
        {
            w.Write(Samples.Random(format, 30, seed: 1));
            w.FramesWritten.Should().Be(25);
            w.DroppedFrames.Should().Be(5);
            w.Write(Samples.Random(format, 3, seed: 2));
            w.DroppedFrames.Should().Be(8);
        }

        using var r = WavReader.Open(path);
        r.FrameCount.Should().Be(25);
    }

    [Fact]
    public void Writes_must_be_whole_frames_and_a_disposed_writer_refuses_them()
    {
        string path = Path.Combine(_dir.Path, "w.wav");
        var w = new WavWriter(path, new AudioFormat(SampleFormat.S32Le, 48000, 2));
        w.Invoking(x => x.Write(new byte[12])).Should().Throw<ArgumentException>().WithMessage("*not whole 8-byte frames*");
        w.Dispose();
        w.Dispose();
        w.Invoking(x => x.Write(new byte[8])).Should().Throw<ObjectDisposedException>();
        using var r = WavReader.Open(path);
        r.FrameCount.Should().Be(0);
    }

    [Fact]
    public void A_missing_directory_is_an_io_error_at_construction()
    {
        string path = Path.Combine(_dir.Path, "no", "such", "dir.wav");
        FluentActions.Invoking(() => new WavWriter(path, new AudioFormat(SampleFormat.S16Le, 48000, 2)))
            .Should().Throw<IOException>();
    }

    [Fact]
    public void Empty_file_header_is_valid_and_sizes_are_patched_on_dispose()
    {
        string path = Path.Combine(_dir.Path, "e.wav");
        var w = new WavWriter(path, new AudioFormat(SampleFormat.S16Le, 44100, 1));
        byte[] header = ReadShared(path);
        header.Length.Should().Be(44);
        BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4)).Should().Be(36);
        BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(40)).Should().Be(0);
        w.Write(Samples.S16(1, 2, 3));
        w.Dispose();
        byte[] all = File.ReadAllBytes(path);
        BinaryPrimitives.ReadUInt32LittleEndian(all.AsSpan(4)).Should().Be(42);
        BinaryPrimitives.ReadUInt32LittleEndian(all.AsSpan(40)).Should().Be(6);
    }

    private static byte[] ReadShared(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var b = new byte[s.Length];
        s.ReadExactly(b);
        return b;
    }
}
