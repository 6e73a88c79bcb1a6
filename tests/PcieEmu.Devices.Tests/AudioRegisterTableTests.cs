using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Devices.AudioCard.Streams;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.Tests;

/// <summary>
/// The generated register table (AudioRegisterTable.g.cs) builds exactly the definitions that binding registers.json
/// at run time built: every field, and every side effect bound to the handler of the same name.
/// </summary>
public sealed class AudioRegisterTableTests
{
    public static TheoryData<string> Models => new() { "default.json", "pro.json" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Generated_definitions_equal_the_document_bound_ones_field_by_field(string file)
    {
        var model = CardModelLoader.Load(Path.Combine(Repo.AudioDir, file));
        var handlers = new NoSideEffects();
        var (caps, dmacaps, maxseg) = ModelResets(model);
        var generated = new List<RegisterDefinition>(AudioRegisterTable.CreateDefinitions(handlers, caps, dmacaps, maxseg));
        for (int i = 0; i < model.Streams.Count; i++)
        {
            generated.AddRange(AudioRegisterTable.CreateSdDefinitions(i, handlers, StreamCaps(model, i)));
        }

        var (expected, names) = DocumentBound(model);
        ShouldMatch(generated, expected, names, _ => handlers);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void The_card_defines_exactly_what_the_document_bound_registers_defined(string file)
    {
        var model = CardModelLoader.Load(Path.Combine(Repo.AudioDir, file));
        using var card = new AudioCard.AudioCard(model, NullLoggerFactory.Instance);
        var bank = card.Function.Bars[model.RegistersBar.Index]!.Handler.Should().BeOfType<RegisterBank>().Subject;

        var (expected, names) = DocumentBound(model);

        // The card handles its registers; stream i handles block SD<i>.
        ShouldMatch(bank.Registers, expected, names,
            d => d.Offset < AudioSdBlock.Base ? card : card.Streams[(int)((d.Offset - AudioSdBlock.Base) / AudioSdBlock.Stride)]);
    }

    [Fact]
    public void Block_instances_outside_the_map_are_refused()
    {
        var handlers = new NoSideEffects();
        var below = () => AudioRegisterTable.CreateSdDefinitions(-1, handlers, 0);
        var above = () => AudioRegisterTable.CreateSdDefinitions(AudioSdBlock.Count, handlers, 0);

        below.Should().Throw<ArgumentOutOfRangeException>();
        above.Should().Throw<ArgumentOutOfRangeException>();
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>CAPS, DMACAPS and MAXSEG as spec §4 defines them from the model file.</summary>
    private static (ulong Caps, ulong DmaCaps, ulong MaxSeg) ModelResets(CardModel model) => (
        (uint)model.PlaybackStreams | ((uint)model.CaptureStreams << 8) | ((uint)model.MsixVectors << 16),
        (uint)model.Dma.AddressBits | ((uint)model.Dma.AlignmentLog2 << 8) | ((uint)model.Dma.BoundaryBits << 16),
        model.Dma.MaxSegmentBytes);

    private static ulong StreamCaps(CardModel model, int index) =>
        StreamGains.CapsOf(model.Streams[index], model.Streams[index].Direction == StreamDirection.Capture);

    /// <summary>What the card defined through the registers.json binding: the map, then one SD block per stream.</summary>
    private static (List<RegisterDefinition> Definitions, Dictionary<Delegate, string> HandlerNames) DocumentBound(CardModel model)
    {
        var map = AudioRegisterMap.Document;
        var names = new Dictionary<Delegate, string>(ReferenceEqualityComparer.Instance);
        var (caps, dmacaps, maxseg) = ModelResets(model);
        var definitions = new List<RegisterDefinition>(map.CreateDefinitions(
            WriteHandlers(map.Registers, names), ReadHandlers(map.Registers, names), name => name switch
            {
                "CAPS" => caps,
                "DMACAPS" => dmacaps,
                "MAXSEG" => maxseg,
                _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no model value"),
            }));
        var sd = map.Blocks.Single(b => b.Name == "SD");
        for (int i = 0; i < model.Streams.Count; i++)
        {
            ulong streamCaps = StreamCaps(model, i);
            definitions.AddRange(map.CreateBlockDefinitions("SD", i, WriteHandlers(sd.Registers, names), ReadHandlers(sd.Registers, names),
                name => name == "CAPS" ? streamCaps : throw new ArgumentOutOfRangeException(nameof(name), name, "no model value")));
        }

        return (definitions, names);
    }

    private static Dictionary<string, RegisterWriteHandler> WriteHandlers(IEnumerable<RegisterSpec> registers, Dictionary<Delegate, string> names)
    {
        var handlers = new Dictionary<string, RegisterWriteHandler>();
        foreach (string name in registers.Select(r => r.OnWrite).Where(n => n.Length > 0).Distinct())
        {
            RegisterWriteHandler h = (in RegisterWrite _) => GC.KeepAlive(name); // captures: one delegate per name
            handlers[name] = h;
            names[h] = name;
        }

        return handlers;
    }

    private static Dictionary<string, RegisterReadHandler> ReadHandlers(IEnumerable<RegisterSpec> registers, Dictionary<Delegate, string> names)
    {
        var handlers = new Dictionary<string, RegisterReadHandler>();
        foreach (string name in registers.Select(r => r.OnRead).Where(n => n.Length > 0).Distinct())
        {
            RegisterReadHandler h = (_, v) => name.Length > 0 ? v : 0; // captures: one delegate per name
            handlers[name] = h;
            names[h] = name;
        }

        return handlers;
    }

    /// <summary>The interface method a bound handler calls (explicit implementations carry the interface's name).</summary>
    private static string MethodName(Delegate d) => d.Method.Name[(d.Method.Name.LastIndexOf('.') + 1)..];

    private static void ShouldMatch(IReadOnlyList<RegisterDefinition> actual, IReadOnlyList<RegisterDefinition> expected,
        Dictionary<Delegate, string> expectedHandlerNames, Func<RegisterDefinition, object> handlerTarget)
    {
        actual.Select(d => d.Name).Should().Equal(expected.Select(d => d.Name), "the same registers in the same order");
        for (int i = 0; i < expected.Count; i++)
        {
            var a = actual[i];
            var e = expected[i];
            a.Offset.Should().Be(e.Offset, e.Name);
            a.Width.Should().Be(e.Width, e.Name);
            a.ResetValue.Should().Be(e.ResetValue, e.Name);
            a.ImplementedMask.Should().Be(e.ImplementedMask, e.Name);
            a.WritableMask.Should().Be(e.WritableMask, e.Name);
            a.W1cMask.Should().Be(e.W1cMask, e.Name);
            a.ReadMask.Should().Be(e.ReadMask, e.Name);
            a.ReadClearMask.Should().Be(e.ReadClearMask, e.Name);
            a.Doc.Should().Be(e.Doc, e.Name);
            (a.OnWrite is null).Should().Be(e.OnWrite is null, $"{e.Name} has a write side effect in both or neither");
            (a.OnRead is null).Should().Be(e.OnRead is null, $"{e.Name} has a read handler in both or neither");
            foreach (var (actualHandler, expectedHandler) in new (Delegate?, Delegate?)[] { (a.OnWrite, e.OnWrite), (a.OnRead, e.OnRead) })
            {
                if (actualHandler is not null)
                {
                    MethodName(actualHandler).Should().Be(expectedHandlerNames[expectedHandler!], $"{e.Name} binds the handler registers.json names");
                    actualHandler.Target.Should().BeSameAs(handlerTarget(a), $"{e.Name} calls the handlers it was given");
                }
            }
        }
    }

    /// <summary>Handlers that do nothing: the table binds their methods, which the tests identify by name.</summary>
    private sealed class NoSideEffects : IAudioRegisterHandlers, IAudioSdRegisterHandlers
    {
        public void GlobalControl(in RegisterWrite write)
        {
        }

        public void InterruptStatusWritten(in RegisterWrite write)
        {
        }

        public ulong InterruptStatusRead(RegisterDefinition register, ulong stored) => stored;

        public void InterruptEnableWritten(in RegisterWrite write)
        {
        }

        public ulong InterruptCount(RegisterDefinition register, ulong stored) => stored;

        public void DiagnosticInterrupt(in RegisterWrite write)
        {
        }

        public void DiagnosticDmaControl(in RegisterWrite write)
        {
        }

        public ulong WallClock(RegisterDefinition register, ulong stored) => stored;

        public void StreamControl(in RegisterWrite write)
        {
        }

        public void StreamStatusWritten(in RegisterWrite write)
        {
        }

        public void StreamProgrammed(in RegisterWrite write)
        {
        }

        public void ChannelVolumeWritten(in RegisterWrite write)
        {
        }
    }
}
