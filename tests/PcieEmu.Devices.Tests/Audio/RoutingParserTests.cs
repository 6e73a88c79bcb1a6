using PcieEmu.Devices.Audio.Routing;

namespace PcieEmu.Devices.Tests.Audio.Routing;

public sealed class RoutingParserTests
{
    [Theory]
    [InlineData("memory", typeof(MemorySink))]
    [InlineData("null", typeof(NullSink))]
    [InlineData("loopback", typeof(LoopbackSink))]
    [InlineData("wav:/tmp/x.wav", typeof(WavFileSink))]
    [InlineData("wav:C:/odd:path.wav", typeof(WavFileSink))]
    public void Valid_playback_routes_create_their_sink(string spec, Type type)
    {
        AudioRoutes.TryValidate(spec, forPlayback: true, out string? error).Should().BeTrue();
        error.Should().BeNull();
        using var sink = AudioRoutes.CreateSink(spec, new LoopbackHub(), "playback0");
        sink.Should().BeOfType(type);
        sink.Description.Should().Be(spec);
    }

    [Theory]
    [InlineData("tone:440,660", typeof(ToneSource))]
    [InlineData("tone:440@0.25", typeof(ToneSource))]
    [InlineData("silence", typeof(SilenceSource))]
    [InlineData("loopback:playback0", typeof(LoopbackSource))]
    [InlineData("wav:/does/not/exist.wav", typeof(WavFileSource))]
    public void Valid_capture_routes_create_their_source_without_touching_files(string spec, Type type)
    {
        AudioRoutes.TryValidate(spec, forPlayback: false, out string? error).Should().BeTrue();
        error.Should().BeNull();
        using var source = AudioRoutes.CreateSource(spec, new LoopbackHub());
        source.Should().BeOfType(type);
        source.Description.Should().Be(spec);
    }

    [Fact]
    public void Defaults_are_valid_for_their_direction()
    {
        AudioRoutes.DefaultSink.Should().Be("memory");
        AudioRoutes.DefaultSource.Should().Be("tone:440,660");
        AudioRoutes.TryValidate(AudioRoutes.DefaultSink, true, out _).Should().BeTrue();
        AudioRoutes.TryValidate(AudioRoutes.DefaultSource, false, out _).Should().BeTrue();
    }

    [Theory]
    [InlineData("", true, "empty route; a playback sink is memory, wav:PATH, loopback or null")]
    [InlineData("", false, "empty route; a capture source is tone:*")]
    [InlineData("speaker", true, "route 'speaker': unknown playback sink 'speaker'; a playback sink is memory, wav:PATH, loopback or null")]
    [InlineData("mic:1", false, "route 'mic:1': unknown capture source 'mic'*")]
    [InlineData("Memory", true, "*unknown playback sink 'Memory'*")]
    [InlineData("memory:x", true, "route 'memory:x': 'memory' takes no argument")]
    [InlineData("null:", true, "*'null' takes no argument")]
    [InlineData("silence:1", false, "*'silence' takes no argument")]
    [InlineData("loopback:capture0", true, "*the playback sink 'loopback' takes no argument*")]
    [InlineData("loopback", false, "*the capture source 'loopback' needs the playback stream to read, loopback:STREAM")]
    [InlineData("loopback:", false, "*needs the playback stream*")]
    [InlineData("loopback:play back", false, "*stream name 'play back' contains white space*")]
    [InlineData("wav", true, "route 'wav': 'wav' needs a file path, wav:PATH")]
    [InlineData("wav:", false, "*'wav' needs a file path*")]
    [InlineData("wav:  ", false, "*'wav' needs a file path*")]
    [InlineData("wav:a\0b", true, "*NUL*")]
    [InlineData("tone:440", true, "route 'tone:440': 'tone' is a capture source, not a playback sink*")]
    [InlineData("silence", true, "*'silence' is a capture source, not a playback sink*")]
    [InlineData("memory", false, "route 'memory': 'memory' is a playback sink, not a capture source*")]
    [InlineData("null", false, "*'null' is a playback sink*")]
    [InlineData("tone", false, "route 'tone': tone: no frequencies*")]
    [InlineData("tone:", false, "*tone: no frequencies*")]
    [InlineData("tone:440@2", false, "route 'tone:440@2': tone: channel 0 ('440@2' in '440@2'): amplitude '2' is outside 0..1*")]
    [InlineData("tone:440,x", false, "*channel 1 ('x'*frequency 'x'*")]
    public void Invalid_routes_are_rejected_with_a_message_naming_the_bad_part(string spec, bool forPlayback, string message)
    {
        AudioRoutes.TryValidate(spec, forPlayback, out string? error).Should().BeFalse();
        error.Should().Match(message);
        var hub = new LoopbackHub();
        Action create = forPlayback ? () => AudioRoutes.CreateSink(spec, hub, "p") : () => AudioRoutes.CreateSource(spec, hub);
        create.Should().Throw<FormatException>().WithMessage(message);
    }

    [Fact]
    public void Loopback_routes_connect_through_the_given_hub()
    {
        var hub = new LoopbackHub(jitterBuffer: TimeSpan.Zero);
        var format = new PcieEmu.Devices.Audio.AudioFormat(PcieEmu.Devices.Audio.SampleFormat.S16Le, 48000, 1);
        using var sink = AudioRoutes.CreateSink("loopback", hub, "playback0");
        using var source = AudioRoutes.CreateSource("loopback:playback0", hub);
        sink.Start(format);
        source.Start(format).Should().BeNull();
        sink.Write([1, 2, 3, 4]);
        var b = new byte[4];
        source.Read(b, 0);
        b.Should().Equal(1, 2, 3, 4);
    }
}
