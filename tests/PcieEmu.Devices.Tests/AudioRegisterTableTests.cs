using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Codegen;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Devices.AudioCard.Streams;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.Tests;

/// <summary>
/// The generated register table (AudioRegisterTable.g.cs), and the card built with it, define exactly the registers
/// registers.json declares: every field, and every side effect bound to the handler of the same name.
/// </summary>
public sealed class AudioRegisterTableTests
{
    public static TheoryData<string> Models => new() { "default.json", "pro.json" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Generated_definitions_equal_the_declared_ones_field_by_field(string file)
    {
        var model = CardModelLoader.LoadAudio(Path.Combine(Repo.AudioDir, file));
        var handlers = new NoSideEffects();
        var (caps, dmacaps, maxseg) = ModelResets(model);
        var generated = new List<RegisterDefinition>(AudioRegisterTable.CreateDefinitions(handlers, caps, dmacaps, maxseg));
        for (int i = 0; i < model.Streams.Count; i++)
        {
            generated.AddRange(AudioRegisterTable.CreateSdDefinitions(i, handlers, StreamCaps(model, i)));
        }

        ShouldMatch(generated, DeclaredBy(model), _ => handlers);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void The_card_defines_exactly_the_registers_registers_json_declares(string file)
    {
        var model = CardModelLoader.LoadAudio(Path.Combine(Repo.AudioDir, file));
        using var card = new AudioCard.AudioCard(model, NullLoggerFactory.Instance);
        var bank = card.Function.Bars[model.RegistersBar.Index]!.Handler.Should().BeOfType<RegisterBank>().Subject;

        // The card handles its registers; stream i's register handlers handle block SD<i>.
        ShouldMatch(bank.Registers, DeclaredBy(model),
            d => d.Offset < AudioSdBlock.Base ? card : card.Streams[(int)((d.Offset - AudioSdBlock.Base) / AudioSdBlock.Stride)].RegisterHandlers);
    }

    [Fact]
    public void The_handler_interfaces_declare_exactly_the_side_effects_registers_json_names()
    {
        var map = RegisterMapDocument.Load(Repo.RegistersJsonPath);

        Signatures(typeof(IAudioRegisterHandlers)).Should().BeEquivalentTo(Named(map.Registers));
        Signatures(typeof(IAudioSdRegisterHandlers)).Should().BeEquivalentTo(Named(map.Blocks.Single(b => b.Name == "SD").Registers));
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
    private static (ulong Caps, ulong DmaCaps, ulong MaxSeg) ModelResets(AudioCardModel model) => (
        (uint)model.PlaybackStreams | ((uint)model.CaptureStreams << 8) | ((uint)model.MsixVectors << 16),
        (uint)model.Dma.AddressBits | ((uint)model.Dma.AlignmentLog2 << 8) | ((uint)model.Dma.BoundaryBits << 16),
        model.Dma.MaxSegmentBytes);

    private static ulong StreamCaps(AudioCardModel model, int index) =>
        StreamGains.CapsOf(model.Streams[index], model.Streams[index].Direction == StreamDirection.Capture);

    /// <summary>
    /// A register as registers.json declares it: each element of an array, block instances at their absolute offsets
    /// and named "SD&lt;i&gt;_&lt;REG&gt;", the masks the fields' access classes give, side effects by name ("" for none).
    /// </summary>
    private sealed record Declared(string Name, uint Offset, int Width, ulong ResetValue, ulong ImplementedMask, ulong WritableMask,
        ulong W1cMask, ulong ReadMask, ulong ReadClearMask, string Doc, string OnWrite, string OnRead)
    {
        public static Declared Of(RegisterDefinition d) => new(d.Name, d.Offset, d.Width, d.ResetValue, d.ImplementedMask, d.WritableMask,
            d.W1cMask, d.ReadMask, d.ReadClearMask, d.Doc, d.OnWrite is null ? "" : MethodName(d.OnWrite), d.OnRead is null ? "" : MethodName(d.OnRead));
    }

    /// <summary>What registers.json declares for a card of <paramref name="model"/>: the map, then one SD block per stream.</summary>
    private static List<Declared> DeclaredBy(AudioCardModel model)
    {
        var map = RegisterMapDocument.Load(Repo.RegistersJsonPath);
        var (caps, dmacaps, maxseg) = ModelResets(model);
        var declared = new List<Declared>();
        foreach (var r in map.Registers)
        {
            ulong reset = !r.ResetFromModel ? r.Reset : r.Name switch
            {
                "CAPS" => caps,
                "DMACAPS" => dmacaps,
                "MAXSEG" => maxseg,
                _ => throw new InvalidOperationException($"{r.Name}: no model value"),
            };
            declared.AddRange(Expand(r, 0, "", reset));
        }

        var sd = map.Blocks.Single(b => b.Name == "SD");
        for (int i = 0; i < model.Streams.Count; i++)
        {
            foreach (var r in sd.Registers)
            {
                ulong reset = !r.ResetFromModel ? r.Reset : r.Name == "CAPS" ? StreamCaps(model, i) : throw new InvalidOperationException($"SD.{r.Name}: no model value");
                declared.AddRange(Expand(r, sd.Base + ((uint)i * sd.Stride), $"SD{i}_", reset));
            }
        }

        return declared;
    }

    private static IEnumerable<Declared> Expand(RegisterSpec r, uint baseOffset, string prefix, ulong reset) =>
        r.Instances().Select(element => new Declared(prefix + element.Name, baseOffset + element.Offset, r.WidthBits / 8, reset,
            r.ImplementedMask, r.WritableMask, r.W1cMask, r.ReadMask, r.ReadClearMask, r.Doc, r.OnWrite, r.OnRead));

    private static IEnumerable<string> Named(IEnumerable<RegisterSpec> registers) =>
        registers.SelectMany(r => new[] { r.OnWrite.Length > 0 ? "write " + r.OnWrite : null, r.OnRead.Length > 0 ? "read " + r.OnRead : null })
            .OfType<string>().Distinct();

    /// <summary>"write NAME" for a write side effect, "read NAME" for a read handler; anything else is listed as it is.</summary>
    private static IEnumerable<string> Signatures(Type handlers) => handlers.GetMethods().Select(m =>
    {
        var p = m.GetParameters();
        if (m.ReturnType == typeof(void) && p.Length == 1 && p[0].ParameterType == typeof(RegisterWrite).MakeByRefType() && p[0].IsIn)
        {
            return "write " + m.Name;
        }

        if (m.ReturnType == typeof(ulong) && p.Length == 2 && p[0].ParameterType == typeof(RegisterDefinition) && p[1].ParameterType == typeof(ulong))
        {
            return "read " + m.Name;
        }

        return m.ToString()!;
    });

    /// <summary>The interface method a bound handler calls (explicit implementations carry the interface's name).</summary>
    private static string MethodName(Delegate d) => d.Method.Name[(d.Method.Name.LastIndexOf('.') + 1)..];

    private static void ShouldMatch(IReadOnlyList<RegisterDefinition> actual, IReadOnlyList<Declared> expected, Func<RegisterDefinition, object> handlerTarget)
    {
        actual.Select(Declared.Of).Should().Equal(expected, "every register, field by field, side effects bound by name");
        foreach (var d in actual)
        {
            foreach (var handler in new Delegate?[] { d.OnWrite, d.OnRead })
            {
                handler?.Target.Should().BeSameAs(handlerTarget(d), $"{d.Name} calls the handlers it was given");
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

        public ulong StreamStatusRead(RegisterDefinition register, ulong stored) => stored;

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
