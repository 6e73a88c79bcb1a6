using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Wav;

namespace PcieEmu.Devices.Tests.Audio.Wav;

/// <summary>Hand-built files: the layouts other writers produce.</summary>
public sealed class WavReaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Unknown_chunks_before_and_after_fmt_are_skipped_including_odd_sizes_and_their_pad_byte()
    {
        byte[] data = Samples.S16(1, -2, 3, -4);
        byte[] file = new WavBuilder()
            .Chunk("LIST", [(byte)'I', (byte)'N', (byte)'F', (byte)'O', 1, 2, 3]) // 7 bytes + pad
            .Chunk("fmt ", WavBuilder.PcmFmt(1, 2, 44100, 16))
            .Chunk("JUNK", new byte[5]) // 5 bytes + pad
            .Chunk("bext", new byte[1])
            .Chunk("data", data)
            .Chunk("LIST", new byte[3]) // after data: never looked at
            .Build();

        var (format, frames) = Read(file);
        format.Should().Be(new AudioFormat(SampleFormat.S16Le, 44100, 2));
        frames.Should().Equal(data);
    }

    [Fact]
    public void An_odd_sized_fmt_chunk_is_followed_by_its_pad_byte()
    {
        var fmt = WavBuilder.PcmFmt(1, 1, 48000, 16, size: 17); // 16 + one stray byte
        byte[] data = Samples.S16(7, 8, 9);
        var (format, frames) = Read(new WavBuilder().Chunk("fmt ", fmt).Chunk("data", data).Build());
        format.Should().Be(new AudioFormat(SampleFormat.S16Le, 48000, 1));
        frames.Should().Equal(data);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(0xFFFFFFFFu)]
    public void Streamed_data_size_markers_mean_to_the_end_of_the_file_ignoring_a_partial_frame(uint marker)
    {
        byte[] data = Samples.S16(1, 2, 3, 4, 5, 6);
        byte[] file = new WavBuilder()
            .RiffSize(marker)
            .Chunk("fmt ", WavBuilder.PcmFmt(1, 2, 48000, 16))
            .Chunk("data", data, declaredSize: marker)
            .Raw(0xAA, 0xBB, 0xCC) // a partial frame: a writer killed mid-frame
            .Build();

        var (_, frames) = Read(file);
        frames.Should().Equal(data);
    }

    [Fact]
    public void A_wrong_riff_size_is_not_trusted()
    {
        byte[] data = Samples.S16(5, 6);
        var (_, frames) = Read(new WavBuilder().RiffSize(4).Chunk("fmt ", WavBuilder.PcmFmt(1, 1, 48000, 16)).Chunk("data", data).Build());
        frames.Should().Equal(data);
    }

    [Fact]
    public void Packed_24_bit_pcm_is_expanded_to_sign_extended_s24_containers()
    {
        int[] values = [0, 1, -1, 0x7FFFFF, -0x800000, 0x123456, -0x123456];
        byte[] file = new WavBuilder().Chunk("fmt ", WavBuilder.PcmFmt(1, 1, 96000, 24)).Chunk("data", Samples.S24Packed(values)).Build();
        var (format, frames) = Read(file);
        format.Should().Be(new AudioFormat(SampleFormat.S24Le, 96000, 1));
        Samples.ToI32(frames).Should().Equal(values);
    }

    [Fact]
    public void Packed_24_bit_reads_across_the_internal_buffer_in_any_chunking()
    {
        int[] values = [.. Enumerable.Range(0, 20000).Select(i => ((i * 7919) % 0x1000000) - 0x800000)];
        string path = _dir.Write("p24.wav", "");
        File.WriteAllBytes(path, new WavBuilder().Chunk("fmt ", WavBuilder.PcmFmt(1, 2, 48000, 24)).Chunk("data", Samples.S24Packed(values)).Build());
        using var r = WavReader.Open(path);
        r.Encoding.Should().Be(WavSampleEncoding.Pcm24Packed);
        var all = new List<int>();
        var buf = new byte[8 * 777];
        int n;
        while ((n = r.ReadFrames(buf)) > 0)
        {
            all.AddRange(Samples.ToI32(buf.AsSpan(0, n * 8)));
        }

        all.Should().Equal(values);
    }

    [Fact]
    public void Extensible_pcm_16_and_float_32_map_to_s16_and_float()
    {
        byte[] s16 = Samples.S16(1, -1);
        var (format, frames) = Read(new WavBuilder().Chunk("fmt ", WavBuilder.ExtensibleFmt(2, 48000, 16, 16, 1)).Chunk("data", s16).Build());
        format.Should().Be(new AudioFormat(SampleFormat.S16Le, 48000, 2));
        frames.Should().Equal(s16);

        byte[] f = Samples.F32(0.5f, -0.25f);
        (format, frames) = Read(new WavBuilder().Chunk("fmt ", WavBuilder.ExtensibleFmt(2, 48000, 32, 32, 3)).Chunk("data", f).Build());
        format.Should().Be(new AudioFormat(SampleFormat.FloatLe, 48000, 2));
        frames.Should().Equal(f);
    }

    [Fact]
    public void Extensible_24_in_32_reads_the_top_24_bits_sign_extended()
    {
        byte[] stored = Samples.I32(0x12345600, unchecked((int)0xFFFFFE00), unchecked((int)0x80000000), 0x7FFFFF00);
        var (format, frames) = Read(new WavBuilder().Chunk("fmt ", WavBuilder.ExtensibleFmt(2, 192000, 32, 24, 1)).Chunk("data", stored).Build());
        format.Should().Be(new AudioFormat(SampleFormat.S24Le, 192000, 2));
        Samples.ToI32(frames).Should().Equal(0x123456, -2, -0x800000, 0x7FFFFF);
    }

    [Fact]
    public void Valid_bits_zero_means_the_container_and_32_valid_bits_is_s32()
    {
        byte[] stored = Samples.I32(int.MinValue, 123);
        var (format, frames) = Read(new WavBuilder().Chunk("fmt ", WavBuilder.ExtensibleFmt(1, 44100, 32, 0, 1)).Chunk("data", stored).Build());
        format.Should().Be(new AudioFormat(SampleFormat.S32Le, 44100, 1), "0 valid bits means the container's 32");
        frames.Should().Equal(stored);
        (format, _) = Read(new WavBuilder().Chunk("fmt ", WavBuilder.ExtensibleFmt(1, 44100, 32, 32, 1)).Chunk("data", stored).Build());
        format.Format.Should().Be(SampleFormat.S32Le);
    }

    [Fact]
    public void Seek_and_chunked_reads_give_the_same_frames()
    {
        var format = new AudioFormat(SampleFormat.S32Le, 48000, 3);
        byte[] data = Samples.Random(format, 1000, seed: 3);
        string path = Path.Combine(_dir.Path, "s.wav");
        File.WriteAllBytes(path, new WavBuilder().Chunk("fmt ", WavBuilder.ExtensibleFmt(3, 48000, 32, 32, 1, mask: 0)).Chunk("data", data).Build());
        using var r = WavReader.Open(path);
        r.Seek(990);
        var tail = new byte[100 * 12];
        r.ReadFrames(tail).Should().Be(10);
        tail.AsSpan(0, 120).ToArray().Should().Equal(data.AsSpan(990 * 12).ToArray());
        r.ReadFrames(tail).Should().Be(0);
        r.Seek(0);
        r.Position.Should().Be(0);
        var one = new byte[12];
        r.ReadFrames(one).Should().Be(1);
        one.Should().Equal(data.AsSpan(0, 12).ToArray());
        r.ReadFrames(new byte[11]).Should().Be(0, "less than a frame of room");
    }

    [Fact]
    public void ReadAllFrames_refuses_files_above_the_byte_limit()
    {
        string path = Path.Combine(_dir.Path, "big.wav");
        File.WriteAllBytes(path, new WavBuilder().Chunk("fmt ", WavBuilder.PcmFmt(1, 1, 48000, 16)).Chunk("data", new byte[2000]).Build());
        FluentActions.Invoking(() => WavReader.ReadAllFrames(path, out _, maxBytes: 1000))
            .Should().Throw<WavFormatException>().WithMessage("*1000 frames*2000 bytes*1000 allowed*");
        WavReader.ReadAllFrames(path, out _, maxBytes: 2000).Length.Should().Be(2000);
    }

    private static (AudioFormat Format, byte[] Frames) Read(byte[] file)
    {
        using var r = new WavReader(new MemoryStream(file));
        var frames = new byte[r.FrameCount * r.Format.FrameBytes];
        r.ReadFrames(frames).Should().Be((int)r.FrameCount);
        return (r.Format, frames);
    }
}
