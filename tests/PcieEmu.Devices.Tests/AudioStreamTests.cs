using PcieEmu.Pci.Timing;
using System.Buffers.Binary;
using PcieEmu.Devices.Audio;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Devices.Common;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Tests;

namespace PcieEmu.Devices.Tests;

/// <summary>
/// A stream programmed and run like a driver would (spec §9–§13), in virtual time so every expectation is
/// exact. Offsets come from the generated register constants (registers.json is the spec's data).
/// </summary>
internal sealed class StreamRig : IDisposable
{
    public const ulong BufferIova = 0x1000_0000;
    public const ulong BdlIova = 0x2000_0000;
    public const ulong PosIova = 0x3000_0000;
    public const ulong CaptureBufferIova = 0x4000_0000;
    public const ulong CaptureBdlIova = 0x5000_0000;

    public StreamRig(IReadOnlyDictionary<string, string>? routes = null, long keepSampleBytes = CardHarness.KeepSampleBytes)
    {
        Clock = new ManualDeviceClock(1_000_000_000);
        H = new CardHarness(null, new AudioCardOptions { Clock = Clock, Scheduling = PcieEmu.Pci.Scheduling.SchedulerMode.Manual, Routes = routes ?? new Dictionary<string, string>(), KeepSampleBytes = keepSampleBytes });
        Msix = H.EnableMsix();
    }

    public CardHarness H { get; }

    public ManualDeviceClock Clock { get; }

    public CountingSignal[] Msix { get; }

    public PcieEmu.Devices.AudioCard.AudioCard Card => H.Card;

    public static uint Sd(int stream, AudioSdRegister register) => AudioSdBlock.Offset(stream, register);

    public uint Read(int stream, AudioSdRegister r) => H.Read32(Sd(stream, r));

    public ulong Read64(int stream, AudioSdRegister r) => H.Read64(Sd(stream, r));

    public void Write(int stream, AudioSdRegister r, uint value) => H.Write32(Sd(stream, r), value);

    public static uint Fmt(SampleFormat format, int rate, int channels) =>
        (uint)format | ((uint)SampleFormats.RateCode(rate) << 4) | ((uint)(channels - 1) << 8);

    /// <summary>
    /// Maps a buffer of <paramref name="periods"/> periods and a descriptor list with one IOC descriptor per period,
    /// and programs the stream (spec §8 steps 10–11). Returns the buffer (the "guest memory" behind it).
    /// </summary>
    public byte[] Program(int stream, AudioFormat format, int periods, int periodFrames, ulong bufferIova = BufferIova, ulong bdlIova = BdlIova,
        Action<byte[]>? editDescriptors = null)
    {
        int periodBytes = periodFrames * format.FrameBytes;
        var buffer = H.MapArray(bufferIova, periods * periodBytes);
        var bdl = H.MapArray(bdlIova, 4096);
        for (int p = 0; p < periods; p++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bdl.AsSpan(16 * p), bufferIova + (ulong)(p * periodBytes));
            BinaryPrimitives.WriteUInt32LittleEndian(bdl.AsSpan((16 * p) + 8), (uint)periodBytes);
            BinaryPrimitives.WriteUInt32LittleEndian(bdl.AsSpan((16 * p) + 12), 1);
        }

        editDescriptors?.Invoke(bdl);
        Write(stream, AudioSdRegister.Fmt, Fmt(format.Format, format.Rate, format.Channels));
        H.Write64(Sd(stream, AudioSdRegister.Bdl), bdlIova);
        Write(stream, AudioSdRegister.Bdln, (uint)periods);
        Write(stream, AudioSdRegister.Cbl, (uint)(periods * periodBytes));
        Write(stream, AudioSdRegister.Ctl, (uint)(AudioSdFields.Ctl.Ioce | AudioSdFields.Ctl.Erre));
        return buffer;
    }

    public void Run(int stream) => Write(stream, AudioSdRegister.Ctl, Read(stream, AudioSdRegister.Ctl) | (uint)AudioSdFields.Ctl.Run);

    public void Stop(int stream) => Write(stream, AudioSdRegister.Ctl, Read(stream, AudioSdRegister.Ctl) & ~(uint)AudioSdFields.Ctl.Run);

    public void Advance(long nanoseconds) => Card.AdvanceTime(nanoseconds);

    public int ErrCode(int stream) => (int)((Read(stream, AudioSdRegister.Sts) & AudioSdFields.Sts.Errcode) >> AudioSdFields.Sts.ErrcodeShift);

    public byte[] Recorded(int stream, int run = 0) => Card.Streams[stream].Runs[run].Bytes;

    public void Dispose() => H.Dispose();

    /// <summary>A deterministic ramp of distinct sample values.</summary>
    public static void FillRamp(byte[] buffer, int seed = 1)
    {
        for (int i = 0; i < buffer.Length; i++)
        {
            buffer[i] = (byte)((i * 7) + seed);
        }
    }
}

public sealed class AudioStreamTests
{
    private static readonly AudioFormat S16Stereo48k = new(SampleFormat.S16Le, 48000, 2);
    private const int Playback = 0;
    private const int Capture = 1;
    private const long Ms = 1_000_000;

    [Fact]
    public void By_default_a_card_counts_what_its_streams_transfer_but_keeps_none_of_it()
    {
        // A plain `serve` kept up to 64 MiB per stream (256 MiB in a "memory" sink) whether or not anyone read it:
        // 512 MiB for the pro card. Keeping samples is the harness's choice (AudioCardOptions.KeepSampleBytes).
        using var rig = new StreamRig(keepSampleBytes: 0);
        StreamRig.FillRamp(rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480));
        rig.Program(Capture, S16Stereo48k, periods: 4, periodFrames: 480, StreamRig.CaptureBufferIova, StreamRig.CaptureBdlIova);

        rig.Run(Playback);
        rig.Run(Capture);
        rig.Advance(100 * Ms);

        foreach (int stream in new[] { Playback, Capture })
        {
            var run = rig.Card.Streams[stream].Runs.Should().ContainSingle().Which;
            run.TotalFrames.Should().BeGreaterThan(4000, "the stream ran for 100 ms at 48 kHz");
            run.KeptFrames.Should().Be(0, "nothing is kept unless asked for");
        }
    }

    [Fact]
    public void With_samples_kept_the_runs_hold_exactly_what_was_transferred()
    {
        using var rig = new StreamRig(keepSampleBytes: 1 << 20);
        var buffer = rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        StreamRig.FillRamp(buffer);

        rig.Run(Playback);
        rig.Advance(10 * Ms);

        var run = rig.Card.Streams[Playback].Runs.Should().ContainSingle().Which;
        run.KeptFrames.Should().Be(run.TotalFrames).And.BeGreaterThan(0);
        run.Bytes.Should().Equal(buffer.AsSpan(0, run.Bytes.Length).ToArray());
    }

    [Fact]
    public void A_wav_sink_is_opened_and_closed_by_the_engine_not_inside_the_guests_register_write_spec_13()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "out.wav");
        using var rig = new StreamRig(new Dictionary<string, string> { ["playback0"] = "wav:" + path });
        var buffer = rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        StreamRig.FillRamp(buffer);

        rig.Run(Playback);

        File.Exists(path).Should().BeFalse("the RUN write only queues the start: creating a file is I/O, not for the MMIO path");
        (rig.Read(Playback, AudioSdRegister.Sts) & AudioSdFields.Sts.Running).Should().Be(0);
        rig.Advance(10 * Ms);
        File.Exists(path).Should().BeTrue("the engine started the sink");
        (rig.Read(Playback, AudioSdRegister.Sts) & AudioSdFields.Sts.Running).Should().NotBe(0);

        rig.Stop(Playback);
        rig.Advance(1);

        var written = PcieEmu.Devices.Audio.Wav.WavReader.ReadAllFrames(path, out var format);
        format.Should().Be(S16Stereo48k);
        written.Should().Equal(buffer.AsSpan(0, 480 * 4).ToArray(), "10 ms at 48 kHz, and the engine closed the file after the stop");
    }

    [Fact]
    public void Playback_moves_exactly_the_frames_due_and_raises_one_ioc_per_period_spec_11_1()
    {
        using var rig = new StreamRig();
        var buffer = rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        StreamRig.FillRamp(buffer);
        rig.Run(Playback);
        (rig.Read(Playback, AudioSdRegister.Sts) & AudioSdFields.Sts.Running).Should().NotBe(0, "the list is in local memory: RUNNING is visible at once");

        rig.Advance(25 * Ms);

        const int frames = 1200; // 25 ms at 48 kHz
        rig.Read64(Playback, AudioSdRegister.Frames).Should().Be(frames);
        rig.Read(Playback, AudioSdRegister.Lpib).Should().Be(frames * 4);
        rig.Read(Playback, AudioSdRegister.Bcnt).Should().Be(2, "the period boundaries at 480 and 960 frames were crossed");
        rig.Msix[1].Count.Should().Be(2, "stream 0's IOC events go to vector 1 (spec §5)");
        rig.Recorded(Playback).Should().Equal(buffer.AsSpan(0, frames * 4).ToArray());
        rig.Card.Checker.Count.Should().Be(0);
    }

    [Fact]
    public void A_period_of_several_descriptors_with_ioc_on_its_last_raises_one_ioc_per_period_spec_10()
    {
        // What the reference driver does with periods longer than MAXSEG (as Intel HDA): 480-frame periods
        // (1920 bytes) cut into 896 + 896 + 128 bytes, each aligned and whole frames, IOC only on the third.
        using var rig = new StreamRig();
        int[] pieces = [896, 896, 128];
        var buffer = rig.Program(Playback, S16Stereo48k, periods: 2, periodFrames: 480, editDescriptors: bdl =>
        {
            int n = 0, offset = 0;
            for (int p = 0; p < 2; p++)
            {
                for (int k = 0; k < pieces.Length; k++, n++)
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(bdl.AsSpan(16 * n), StreamRig.BufferIova + (ulong)offset);
                    BinaryPrimitives.WriteUInt32LittleEndian(bdl.AsSpan((16 * n) + 8), (uint)pieces[k]);
                    BinaryPrimitives.WriteUInt32LittleEndian(bdl.AsSpan((16 * n) + 12), k == pieces.Length - 1 ? 1u : 0u);
                    offset += pieces[k];
                }
            }
        });
        rig.Write(Playback, AudioSdRegister.Bdln, 6);
        StreamRig.FillRamp(buffer);
        rig.Run(Playback);

        rig.Advance(25 * Ms);

        rig.ErrCode(Playback).Should().Be(0, "six legal descriptors form the 3840-byte buffer (spec §10)");
        rig.Read64(Playback, AudioSdRegister.Frames).Should().Be(1200);
        rig.Read(Playback, AudioSdRegister.Bcnt).Should().Be(2, "only the descriptors ending at 480 and 960 frames have IOC");
        rig.Msix[1].Count.Should().Be(2, "one interrupt per period, not per descriptor");
        rig.Recorded(Playback).Should().Equal([.. buffer, .. buffer.AsSpan(0, 240 * 4).ToArray()], "the segments play in list order");
        rig.Card.Checker.Count.Should().Be(0);
    }

    [Fact]
    public void Playback_wraps_the_buffer_and_records_the_zero_timestamp_spec_11_2()
    {
        using var rig = new StreamRig();
        var buffer = rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        StreamRig.FillRamp(buffer);
        long t0 = rig.Clock.NowNanoseconds;
        rig.Run(Playback);

        rig.Advance(50 * Ms);

        rig.Read64(Playback, AudioSdRegister.Frames).Should().Be(2400);
        rig.Read64(Playback, AudioSdRegister.ZtsFrames).Should().Be(1920, "the wrap happened at the buffer's 1920 frames");
        rig.Read64(Playback, AudioSdRegister.ZtsTime).Should().Be((ulong)(t0 + (40 * Ms)), "frame 1920 was due 40 ms after RUN");
        rig.Read(Playback, AudioSdRegister.Bcnt).Should().Be(5);
        rig.Recorded(Playback).Should().Equal([.. buffer, .. buffer.AsSpan(0, 480 * 4).ToArray()]);
    }

    [Fact]
    public void Capture_from_a_tone_writes_the_spec_13_samples_into_the_buffer()
    {
        using var rig = new StreamRig();
        var buffer = rig.Program(Capture, S16Stereo48k, periods: 2, periodFrames: 960);
        rig.Run(Capture);

        rig.Advance(20 * Ms);

        rig.Read64(Capture, AudioSdRegister.Frames).Should().Be(960);
        for (int n = 0; n < 960; n++)
        {
            short left = BinaryPrimitives.ReadInt16LittleEndian(buffer.AsSpan(4 * n));
            short right = BinaryPrimitives.ReadInt16LittleEndian(buffer.AsSpan((4 * n) + 2));
            left.Should().Be(Tone(440, n, 48000), $"frame {n} left (default source tone:440,660 at amplitude 0.5)");
            right.Should().Be(Tone(660, n, 48000), $"frame {n} right");
        }

        rig.Recorded(Capture).Should().Equal(buffer.AsSpan(0, 960 * 4).ToArray(), "the card's record is what it wrote");
        rig.Msix[2].Count.Should().Be(1, "stream 1's IOC goes to vector 2");
    }

    private static short Tone(double frequency, long n, int rate) =>
        (short)Math.Round(0.5 * 32767 * Math.Sin(2 * Math.PI * frequency * n / rate), MidpointRounding.ToEven);

    [Fact]
    public void Channel_volume_and_mute_change_samples_exactly_as_spec_12_says()
    {
        using var rig = new StreamRig();
        var buffer = rig.Program(Playback, S16Stereo48k, periods: 2, periodFrames: 480);
        StreamRig.FillRamp(buffer);
        rig.Write(Playback, AudioSdRegister.Chvol, 180); // channel 0: −6 dB
        rig.H.Write32(StreamRig.Sd(Playback, AudioSdRegister.Chvol) + 4, 192 | (uint)AudioSdFields.Chvol.Mute); // channel 1 muted
        rig.Run(Playback);

        rig.Advance(10 * Ms);

        var got = rig.Recorded(Playback);
        double g = Math.Pow(10, (180 - 192) / 40.0);
        for (int n = 0; n < 480; n++)
        {
            short x = BinaryPrimitives.ReadInt16LittleEndian(buffer.AsSpan(4 * n));
            short expected = (short)Math.Clamp(Math.Round(x * g, MidpointRounding.ToEven), short.MinValue, short.MaxValue);
            BinaryPrimitives.ReadInt16LittleEndian(got.AsSpan(4 * n)).Should().Be(expected, $"frame {n} channel 0 at −6 dB");
            BinaryPrimitives.ReadInt16LittleEndian(got.AsSpan((4 * n) + 2)).Should().Be(0, "channel 1 is muted");
        }
    }

    [Fact]
    public void Playback_levels_above_0_dB_are_stored_as_0_dB_capture_gain_goes_to_plus_31_5()
    {
        using var rig = new StreamRig();
        rig.Write(Playback, AudioSdRegister.Chvol, 250);
        (rig.Read(Playback, AudioSdRegister.Chvol) & AudioSdFields.Chvol.Level).Should().Be(192);
        rig.Write(Capture, AudioSdRegister.Chvol, 250);
        (rig.Read(Capture, AudioSdRegister.Chvol) & AudioSdFields.Chvol.Level).Should().Be(250);
    }

    public static TheoryData<string, int, string> StartViolations() => new()
    {
        { "no descriptor list", 12, "StreamNoBdl" },
        { "misaligned segment", 6, "StreamAlign" },
        { "segment outside mapped memory", 1, "StreamUnmapped" },
        { "segment not a whole number of frames", 14, "StreamFrame" },
        { "CBL differs from the descriptors", 10, "StreamCbl" },
        { "reserved descriptor flags", 9, "StreamDescReserved" },
        { "segment crossing 4 GiB", 13, "StreamBoundary" },
        { "three channels on a stereo stream", 11, "StreamFormat" },
        { "300 descriptors", 15, "StreamBdlLength" },
        { "segment above MAXSEG", 7, "StreamLength" },
        { "descriptor list outside mapped memory", 1, "StreamUnmapped" },
        { "bus mastering off", 3, "StreamBusMaster" },
    };

    [Theory]
    [MemberData(nameof(StartViolations))]
    public void A_broken_setup_is_refused_at_RUN_with_its_errcode_and_a_named_violation_spec_10(string what, int code, string rule)
    {
        using var rig = new StreamRig();
        var format = S16Stereo48k;
        Action<byte[]>? edit = what switch
        {
            "misaligned segment" => d => BinaryPrimitives.WriteUInt64LittleEndian(d, StreamRig.BufferIova + 4),
            "segment outside mapped memory" => d => BinaryPrimitives.WriteUInt64LittleEndian(d, 0x7_0000_0000),
            "segment not a whole number of frames" => d => BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(8), (480 * 4) - 2),
            "reserved descriptor flags" => d => BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(12), 0x3),
            "segment crossing 4 GiB" => d => BinaryPrimitives.WriteUInt64LittleEndian(d, 0x1_0000_0000 - 128),
            _ => null,
        };
        if (what == "segment crossing 4 GiB")
        {
            rig.H.MapArray(0x1_0000_0000 - 4096, 8192);
        }

        rig.Program(Playback, format, periods: 2, periodFrames: 480, editDescriptors: edit);
        switch (what)
        {
            case "no descriptor list":
                rig.H.Write64(StreamRig.Sd(Playback, AudioSdRegister.Bdl), 0);
                break;
            case "CBL differs from the descriptors":
                rig.Write(Playback, AudioSdRegister.Cbl, 480 * 4 * 3);
                break;
            case "three channels on a stereo stream":
                rig.Write(Playback, AudioSdRegister.Fmt, StreamRig.Fmt(SampleFormat.S16Le, 48000, 3));
                break;
            case "300 descriptors":
                rig.Write(Playback, AudioSdRegister.Bdln, 300);
                break;
            case "segment above MAXSEG":
                rig.H.Write64(StreamRig.Sd(Playback, AudioSdRegister.Bdl), 0x6000_0000);
                var big = rig.H.MapArray(0x6000_0000, 64);
                BinaryPrimitives.WriteUInt64LittleEndian(big, StreamRig.BufferIova);
                BinaryPrimitives.WriteUInt32LittleEndian(big.AsSpan(8), 65536 + 128);
                rig.Write(Playback, AudioSdRegister.Bdln, 1);
                rig.Write(Playback, AudioSdRegister.Cbl, 65536 + 128);
                break;
            case "descriptor list outside mapped memory":
                rig.H.Write64(StreamRig.Sd(Playback, AudioSdRegister.Bdl), 0x9000_0000);
                break;
            case "bus mastering off":
                rig.H.SetCommand(0x0002);
                break;
        }

        int errVectorBefore = rig.Msix[1].Count;
        rig.Run(Playback);

        (rig.Read(Playback, AudioSdRegister.Ctl) & AudioSdFields.Ctl.Run).Should().Be(0, $"{what}: RUN reads 0 after a refused start (spec §9.3)");
        uint sts = rig.Read(Playback, AudioSdRegister.Sts);
        (sts & AudioSdFields.Sts.Err).Should().NotBe(0);
        (sts & AudioSdFields.Sts.Running).Should().Be(0);
        rig.ErrCode(Playback).Should().Be(code, what);
        rig.H.ViolationRules().Should().Equal(rule);
        if (what != "bus mastering off")
        {
            rig.Msix[1].Count.Should().Be(errVectorBefore + 1, "ERRE: the refusal is an ERR event on the stream's vector");
        }

        rig.Advance(20 * Ms);
        rig.Card.Streams[Playback].Runs.Should().BeEmpty("no byte moves after a refused start");
    }

    [Fact]
    public void A_segment_running_past_its_mapping_is_refused_naming_the_first_bad_iova_spec_10()
    {
        using var rig = new StreamRig();
        const int periodBytes = 1024 * 4;

        // Descriptor 2 starts half a period before the end of the 3-period buffer, so its second half is unmapped.
        rig.Program(Playback, S16Stereo48k, periods: 3, periodFrames: 1024,
            editDescriptors: d => BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(32), StreamRig.BufferIova + (5 * periodBytes / 2)));
        rig.Run(Playback);

        rig.ErrCode(Playback).Should().Be((int)AudioDmaErr.Unmapped);
        var v = rig.H.Violations().Should().ContainSingle().Subject;
        v.RuleName.Should().Be("StreamUnmapped");
        v.Details.Stream.Should().Be(0);
        v.Details.Descriptor.Should().Be(2);
        v.Details.BadAddress.Should().Be(StreamRig.BufferIova + 0x3000, "the first byte past the buffer's mapping, not the segment start");
        v.Details.ErrorCode.Should().Be("UNMAPPED (1)");
        v.What.Should().Be($"stream 0 was refused at RUN: descriptor 2 of 3, segment [0x{StreamRig.BufferIova + 0x2800:x}, +4096) is not mapped for DMA");
        v.Cause.Should().NotBeNull("the SD_CTL write that set RUN caused it");
        v.CauseRegister.Should().Be("SD0_CTL");
    }

    [Fact]
    public void Capture_into_a_buffer_mapped_for_device_reads_only_is_denied_at_the_first_byte_spec_10()
    {
        using var rig = new StreamRig();
        rig.Program(Capture, S16Stereo48k, periods: 2, periodFrames: 960, bufferIova: StreamRig.CaptureBufferIova, bdlIova: StreamRig.CaptureBdlIova);
        rig.H.F.DmaMappings.Unmap(StreamRig.CaptureBufferIova, 2 * 960 * 4).Should().Be(0);
        rig.H.MapArray(StreamRig.CaptureBufferIova, 2 * 960 * 4, DmaAccess.Read); // what DMA_TO_DEVICE maps behind an IOMMU
        rig.Run(Capture);

        rig.ErrCode(Capture).Should().Be((int)AudioDmaErr.Denied);
        var v = rig.H.Violations().Should().ContainSingle().Subject;
        v.RuleName.Should().Be("StreamDenied");
        v.Details.BadAddress.Should().Be(StreamRig.CaptureBufferIova);
        v.Details.Descriptor.Should().Be(0);
        v.What.Should().EndWith("is not mapped writable by the device");
        rig.Advance(20 * Ms);
        rig.Card.Streams[Capture].Runs.Should().BeEmpty("nothing is written into a read-only mapping");
    }

    [Theory]
    [InlineData(Playback)]
    [InlineData(Capture)]
    public void A_buffer_unmapped_under_a_running_stream_stops_it_naming_the_first_bad_iova_spec_10(int stream)
    {
        using var rig = new StreamRig();
        ulong buffer = stream == Playback ? StreamRig.BufferIova : StreamRig.CaptureBufferIova;
        rig.Program(stream, S16Stereo48k, periods: 4, periodFrames: 480, bufferIova: buffer, bdlIova: stream == Playback ? StreamRig.BdlIova : StreamRig.CaptureBdlIova);
        rig.Run(stream);
        rig.Advance(10 * Ms); // frames 0..479 move
        rig.Card.Checker.Count.Should().Be(0);

        rig.H.F.DmaMappings.Unmap(buffer, 4 * 480 * 4).Should().Be(0, "the driver unmapped the buffer but left RUN set");
        rig.Advance(10 * Ms);

        rig.ErrCode(stream).Should().Be((int)AudioDmaErr.Unmapped);
        (rig.Read(stream, AudioSdRegister.Sts) & AudioSdFields.Sts.Running).Should().Be(0);
        var v = rig.H.Violations().Should().ContainSingle().Subject;
        v.RuleName.Should().Be("StreamUnmapped");
        v.Details.Stream.Should().Be(stream);
        v.Details.BadAddress.Should().Be(buffer + (480 * 4), "the next frame's address in the buffer");
        v.What.Should().StartWith($"stream {stream} stopped while running: the buffer DMA at frame 480");
        rig.Read64(stream, AudioSdRegister.Frames).Should().Be(480, "nothing moved after the unmap");
    }

    [Theory]
    [InlineData("reads, never clears", true, false, 1)]
    [InlineData("reads and clears", true, true, 0)]
    [InlineData("never reads (a slow guest)", false, false, 0)]
    public void An_ioc_the_driver_reads_but_never_clears_is_reported_once_after_eight_periods_spec_9_4(string what, bool read, bool clear, int reports)
    {
        using var rig = new StreamRig();
        rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        rig.Run(Playback);
        for (int period = 0; period < 20; period++)
        {
            rig.Advance(10 * Ms); // one period: one IOC raise
            if (read)
            {
                uint sts = rig.Read(Playback, AudioSdRegister.Sts);
                if (clear)
                {
                    rig.Write(Playback, AudioSdRegister.Sts, (uint)(sts & AudioSdFields.Sts.Ioc));
                }
            }
        }

        var found = rig.H.Violations().Where(v => v.RuleName == "InterruptNotAcknowledged").ToList();
        found.Should().HaveCount(reports, what);
        if (reports > 0)
        {
            found[0].Details.Stream.Should().Be(Playback);
            found[0].Details.Register.Should().Be("SD0_STS");
            found[0].What.Should().Contain("SD_STS.IOC");
        }
    }

    [Fact]
    public void The_position_buffer_holds_lpib_bcnt_and_frames_after_each_ioc_spec_11_3()
    {
        using var rig = new StreamRig();
        rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        var record = rig.H.MapArray(StreamRig.PosIova, 64);
        rig.H.Write64(StreamRig.Sd(Playback, AudioSdRegister.Posbuf), StreamRig.PosIova | 1);
        rig.Run(Playback);

        rig.Advance(10 * Ms);

        BinaryPrimitives.ReadUInt32LittleEndian(record).Should().Be(480 * 4, "LPIB at the first IOC");
        BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(4)).Should().Be(1, "BCNT");
        BinaryPrimitives.ReadUInt64LittleEndian(record.AsSpan(8)).Should().Be(480, "FRAMES");
    }

    [Fact]
    public void Falling_more_than_a_buffer_behind_raises_xrun_and_plays_silence_for_the_lost_frames_spec_11_4()
    {
        using var rig = new StreamRig();
        var buffer = rig.Program(Playback, S16Stereo48k, periods: 2, periodFrames: 480);
        StreamRig.FillRamp(buffer);
        rig.Run(Playback);

        rig.Clock.Advance(50 * Ms); // the host stalls: 2400 frames due at once against a 960-frame buffer
        rig.Advance(0);

        (rig.Read(Playback, AudioSdRegister.Sts) & AudioSdFields.Sts.Xrun).Should().NotBe(0);
        rig.Read64(Playback, AudioSdRegister.Frames).Should().Be(2400, "the position still follows the clock");
        var got = rig.Recorded(Playback);
        got.Length.Should().Be(2400 * 4);
        got.AsSpan(0, 1440 * 4).ToArray().Should().OnlyContain(b => b == 0, "the 1440 frames older than one buffer are lost: silence");
        // Frames 1440..2399 are the last buffer's worth; frame 1440 sits at buffer frame 1440 mod 960 = 480.
        got.AsSpan(1440 * 4).ToArray().Should().Equal([.. buffer.AsSpan(480 * 4).ToArray(), .. buffer.AsSpan(0, 480 * 4).ToArray()],
            "the last buffer's worth is played from where the position is");
        rig.Card.Checker.Count.Should().Be(0, "an xrun is a host event, not a driver violation");
    }

    [Fact]
    public void Clearing_RUN_stops_at_once_and_nothing_moves_afterwards_spec_9_3()
    {
        using var rig = new StreamRig();
        rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        rig.Run(Playback);
        rig.Advance(10 * Ms);
        rig.Stop(Playback);
        (rig.Read(Playback, AudioSdRegister.Sts) & AudioSdFields.Sts.Running).Should().Be(0);
        int interrupts = rig.Msix[1].Count;

        rig.Advance(100 * Ms);

        rig.Read64(Playback, AudioSdRegister.Frames).Should().Be(480);
        rig.Recorded(Playback).Length.Should().Be(480 * 4);
        rig.Msix[1].Count.Should().Be(interrupts);
    }

    [Fact]
    public void A_new_RUN_restarts_positions_and_starts_a_new_recorded_run()
    {
        using var rig = new StreamRig();
        rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        rig.Run(Playback);
        rig.Advance(15 * Ms);
        rig.Stop(Playback);
        rig.Run(Playback);
        rig.Advance(5 * Ms);

        rig.Read64(Playback, AudioSdRegister.Frames).Should().Be(240);
        rig.Card.Streams[Playback].Runs.Select(r => r.TotalFrames).Should().Equal(720, 240);
    }

    [Fact]
    public void Reprogramming_a_running_stream_is_ignored_and_recorded()
    {
        using var rig = new StreamRig();
        rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        rig.Run(Playback);

        rig.Write(Playback, AudioSdRegister.Cbl, 4);

        rig.Read(Playback, AudioSdRegister.Cbl).Should().Be(4 * 480 * 4);
        rig.H.Violations().Should().ContainSingle(v => v.RuleName == "StreamReprogrammedWhileRunning");
    }

    [Fact]
    public void Stream_reset_returns_the_block_to_reset_values()
    {
        using var rig = new StreamRig();
        rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        rig.Write(Playback, AudioSdRegister.Chvol, 100);
        rig.Run(Playback);
        rig.Advance(12 * Ms);

        rig.Write(Playback, AudioSdRegister.Ctl, (uint)AudioSdFields.Ctl.Srst);

        rig.Read(Playback, AudioSdRegister.Ctl).Should().Be(0);
        rig.Read(Playback, AudioSdRegister.Sts).Should().Be(0);
        rig.Read(Playback, AudioSdRegister.Cbl).Should().Be(0);
        rig.Read64(Playback, AudioSdRegister.Frames).Should().Be(0);
        rig.Read(Playback, AudioSdRegister.Chvol).Should().Be(0xC0);
    }

    [Fact]
    public void Intx_level_follows_enabled_stream_causes_and_intsts_sis_names_the_stream_spec_9_4()
    {
        var clock = new ManualDeviceClock(0);
        using var h = new CardHarness(null, new AudioCardOptions { Clock = clock, Scheduling = PcieEmu.Pci.Scheduling.SchedulerMode.Manual, KeepSampleBytes = CardHarness.KeepSampleBytes });
        var intx = h.EnableIntx();
        var buffer = h.MapArray(StreamRig.BufferIova, 2 * 480 * 4);
        var bdl = h.MapArray(StreamRig.BdlIova, 64);
        for (int p = 0; p < 2; p++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bdl.AsSpan(16 * p), StreamRig.BufferIova + (ulong)(p * 480 * 4));
            BinaryPrimitives.WriteUInt32LittleEndian(bdl.AsSpan((16 * p) + 8), 480 * 4);
            BinaryPrimitives.WriteUInt32LittleEndian(bdl.AsSpan((16 * p) + 12), 1);
        }

        h.Write32(StreamRig.Sd(Capture, AudioSdRegister.Fmt), StreamRig.Fmt(SampleFormat.S16Le, 48000, 2));
        h.Write64(StreamRig.Sd(Capture, AudioSdRegister.Bdl), StreamRig.BdlIova);
        h.Write32(StreamRig.Sd(Capture, AudioSdRegister.Bdln), 2);
        h.Write32(StreamRig.Sd(Capture, AudioSdRegister.Cbl), 2 * 480 * 4);
        h.Write32(StreamRig.Sd(Capture, AudioSdRegister.Ctl), (uint)(AudioSdFields.Ctl.Ioce | AudioSdFields.Ctl.Run));

        h.Card.AdvanceTime(10 * Ms);

        intx.Count.Should().Be(1, "the IOC asserts INTA#");
        (h.Read32(0x024) & 0xFFFF_0000).Should().Be(1u << (16 + Capture), "INTSTS.SIS bit 16+1");
        h.Write32(StreamRig.Sd(Capture, AudioSdRegister.Sts), (uint)AudioSdFields.Sts.Ioc);
        (h.Read32(0x024) & 0xFFFF_0000).Should().Be(0, "acknowledged");
        h.F.Interrupts.IntxLevel.Should().BeFalse();
        buffer.Should().NotBeEmpty();
    }

    [Fact]
    public void Loopback_hands_the_played_samples_to_the_capture_stream_bit_exact_spec_13()
    {
        using var rig = new StreamRig(new Dictionary<string, string> { ["playback0"] = "loopback", ["capture0"] = "loopback:playback0" });
        var played = rig.Program(Playback, S16Stereo48k, periods: 4, periodFrames: 480);
        StreamRig.FillRamp(played, 3);
        var captured = rig.Program(Capture, S16Stereo48k, periods: 4, periodFrames: 480, StreamRig.CaptureBufferIova, StreamRig.CaptureBdlIova);
        rig.Run(Capture);
        rig.Run(Playback);

        rig.Advance(30 * Ms);

        var loop = rig.Recorded(Capture);
        var sent = rig.Recorded(Playback);
        sent.Should().Equal(played.AsSpan(0, 1440 * 4).ToArray());
        loop.Length.Should().Be(1440 * 4);
        captured.AsSpan(0, 1440 * 4).ToArray().Should().Equal(loop, "the capture buffer holds what the card recorded");
        int lead = 0;
        while (lead < loop.Length && loop[lead] == 0)
        {
            lead++;
        }

        lead -= lead % 4;
        lead.Should().BeInRange(0, 480 * 4, "zeros only while the 10 ms jitter buffer fills (spec §13)");
        loop.AsSpan(lead).ToArray().Should().Equal(sent.AsSpan(0, loop.Length - lead).ToArray(),
            "then the played samples, unchanged and contiguous");
    }

    [Fact]
    public void Long_runs_do_not_drift_positions_follow_the_start_time_exactly()
    {
        using var rig = new StreamRig();
        rig.Program(Playback, new AudioFormat(SampleFormat.S16Le, 44100, 1), periods: 4, periodFrames: 2048);
        long t0 = rig.Clock.NowNanoseconds;
        rig.Run(Playback);

        const long duration = (61 * 1_000_000_000L) + 123_457; // 61 s and a bit
        rig.Advance(duration);

        long expected = (long)((Int128)duration * 44100 / 1_000_000_000);
        rig.Read64(Playback, AudioSdRegister.Frames).Should().Be((ulong)expected, "frame f is due at T0 + f·10⁹/RATE, computed from T0");
        var stats = rig.Card.Streams[Playback].Statistics;
        stats.IocLateness.Should().OnlyContain(l => l == 0, "in virtual time the engine wakes at each boundary");
        stats.IocSamples.Should().BeGreaterThan(0);
        stats.Periods.Should().Be(expected / 2048, "one IOC per 2048-frame period crossed");
        stats.FramesMoved.Should().Be(expected);
        rig.Clock.NowNanoseconds.Should().Be(t0 + duration);
    }

    [Fact]
    public void Two_identical_sessions_produce_identical_samples_and_interrupts()
    {
        byte[] Run(out int interrupts)
        {
            using var rig = new StreamRig();
            var buffer = rig.Program(Playback, S16Stereo48k, periods: 3, periodFrames: 512);
            StreamRig.FillRamp(buffer, 9);
            rig.Write(Playback, AudioSdRegister.Chvol, 171);
            rig.Run(Playback);
            rig.Advance(137 * Ms);
            interrupts = rig.Msix[1].Count;
            return rig.Recorded(Playback);
        }

        var a = Run(out int ia);
        var b = Run(out int ib);
        a.Should().Equal(b);
        ia.Should().Be(ib);
    }

    [Fact]
    public void Message_backed_memory_is_validated_off_the_bus_thread_and_then_runs()
    {
        using var rig = new StreamRig();
        rig.Program(Playback, S16Stereo48k, periods: 2, periodFrames: 480);
        // Replace the list's mapping by one that is not local (as with message DMA).
        rig.H.F.DmaMappings.Unmap(StreamRig.BdlIova, 4096).Should().Be(0);
        var list = new byte[4096];
        for (int p = 0; p < 2; p++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(list.AsSpan(16 * p), StreamRig.BufferIova + (ulong)(p * 480 * 4));
            BinaryPrimitives.WriteUInt32LittleEndian(list.AsSpan((16 * p) + 8), 480 * 4);
            BinaryPrimitives.WriteUInt32LittleEndian(list.AsSpan((16 * p) + 12), 1);
        }

        RemoteBacking.Map(rig.H.F.DmaMappings, StreamRig.BdlIova, list).Should().Be(0);
        rig.Run(Playback);
        (rig.Read(Playback, AudioSdRegister.Sts) & (AudioSdFields.Sts.Running | AudioSdFields.Sts.Err)).Should().Be(0, "not decided yet: the list needs the client");

        rig.Advance(0);

        (rig.Read(Playback, AudioSdRegister.Sts) & AudioSdFields.Sts.Running).Should().NotBe(0);
        rig.Advance(10 * Ms);
        rig.Read64(Playback, AudioSdRegister.Frames).Should().Be(480);
    }

    /// <summary>Memory only reachable through the client (stands in for message DMA).</summary>
    private sealed class RemoteBacking(byte[] memory) : IDmaBacking
    {
        public string Kind => "remote";

        /// <summary>Maps <paramref name="memory"/> read-write at <paramref name="iova"/>; the controller owns the backing.</summary>
        public static int Map(DmaController dma, ulong iova, byte[] memory) =>
            dma.MapOwned(iova, (ulong)memory.Length, DmaAccess.ReadWrite, new RemoteBacking(memory));

        public bool IsLocal => false;

        public DmaResult Read(ulong offset, Span<byte> destination)
        {
            memory.AsSpan((int)offset, destination.Length).CopyTo(destination);
            return DmaResult.Ok;
        }

        public DmaResult Write(ulong offset, ReadOnlySpan<byte> source)
        {
            source.CopyTo(memory.AsSpan((int)offset));
            return DmaResult.Ok;
        }

        public void Dispose()
        {
        }
    }
}
