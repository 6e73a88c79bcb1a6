using System.Globalization;
using System.Text.Json;
using PcieEmu.Interop;
using PcieEmu.Pci.Bars;

namespace PcieEmu.Devices.Models;

/// <summary>
/// Reads a model file: JSON syntax, then the schema (firmware-models/schema/card-model.schema.json, embedded),
/// then the rules a schema cannot express (powers of two, BAR slot collisions, fit of the MSI-X table).
/// Every problem is reported with the file and the JSON path; nothing half-valid is returned.
/// </summary>
public static class CardModelLoader
{
    private static readonly Lazy<JsonSchemaValidator> Schema = new(() =>
    {
        using var stream = typeof(CardModelLoader).Assembly.GetManifestResourceStream("PcieEmu.Devices.Models.card-model.schema.json")
                           ?? throw new InvalidOperationException("card model schema resource missing");
        using var doc = JsonDocument.Parse(stream);
        return new JsonSchemaValidator(doc.RootElement);
    });

    /// <summary>The minimum register BAR size: the spec's register map (spec §3).</summary>
    public const ulong MinRegistersBarSize = 16384;

    /// <summary>
    /// Largest model file read (the shipped ones are a few KiB). A bound, so that a path naming something endless
    /// (/dev/zero) or huge is refused instead of read until memory runs out.
    /// </summary>
    public const int MaxModelFileBytes = 1 << 20;

    /// <summary>
    /// Reads and validates a model file (and its expansion ROM, if it names one): the record of its card's kind
    /// (<see cref="AudioCardModel"/> for an audio card). Any thread; nothing is cached but the embedded schema.
    /// </summary>
    /// <param name="path">The model file; a relative path is taken from the current directory.</param>
    /// <exception cref="CardModelException">The file is missing, not a regular file, larger than
    /// <see cref="MaxModelFileBytes"/> or unreadable; or as for <see cref="Parse"/>.</exception>
    public static CardModel Load(string path)
    {
        string full = Path.GetFullPath(path);
        string text;
        try
        {
            text = ReadModelText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new CardModelException($"{path}: cannot read the model file: {e.Message}");
        }

        return Parse(text, full);
    }

    /// <summary>
    /// A model file's text, unvalidated (a trace records it as it is): only a regular file (a FIFO would block, a device
    /// never end), at most <see cref="MaxModelFileBytes"/>, decoded as UTF-8 unless a byte order mark says otherwise.
    /// </summary>
    /// <exception cref="FileNotFoundException">Nothing is at <paramref name="path"/>.</exception>
    /// <exception cref="IOException">It is not a regular file, is larger than <see cref="MaxModelFileBytes"/>, or cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">It may not be read.</exception>
    public static string ReadModelText(string path) => RegularFile.ReadAllText(path, MaxModelFileBytes, "a model file");

    /// <summary>An audio card's model file (<see cref="Load"/>, and the card must be <see cref="AudioCardModel.CardKind"/>).</summary>
    /// <exception cref="CardModelException">As for <see cref="Load"/>, or the file configures another kind of card.</exception>
    public static AudioCardModel LoadAudio(string path) => AsAudio(Load(path));

    /// <summary>An audio card's model (<see cref="Parse"/>, and the card must be <see cref="AudioCardModel.CardKind"/>).</summary>
    /// <exception cref="CardModelException">As for <see cref="Parse"/>, or the text configures another kind of card.</exception>
    public static AudioCardModel ParseAudio(string json, string sourcePath) => AsAudio(Parse(json, sourcePath));

    private static AudioCardModel AsAudio(CardModel model) => model as AudioCardModel
        ?? throw new CardModelException($"{model.SourcePath}: a \"{model.Card}\" card, not an audio card ({AudioCardModel.CardKind})");

    /// <summary>
    /// Validates a model file's text: JSON (comments allowed), the schema, then the loader's own rules; reads the
    /// expansion ROM it names. Every problem found is reported together. Any thread.
    /// </summary>
    /// <param name="json">The model file's text.</param>
    /// <param name="sourcePath">Names the model in errors and becomes <see cref="CardModel.SourcePath"/>; a relative
    /// ROM path is taken from its directory.</param>
    /// <exception cref="CardModelException">Not JSON, against the schema, or against a rule the schema cannot express (BAR
    /// sizes and slots, MSI-X table fit, DMA alignment, duplicate stream names, routes), or its ROM image cannot be
    /// read or is empty.</exception>
    public static CardModel Parse(string json, string sourcePath)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new CardModelException($"{sourcePath}: not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {e.Message}");
        }

        using (doc)
        {
            var errors = Schema.Value.Validate(doc.RootElement);
            if (errors.Count > 0)
            {
                throw new CardModelException($"{sourcePath}: does not match the card model schema:" + List(errors));
            }

            var root = doc.RootElement;
            var problems = new List<string>();
            var identity = root.GetProperty("identity");
            ulong Field(string name, ulong max)
            {
                var element = identity.GetProperty(name);
                ulong? v = Number(element);
                if (v is not { } value || value > max)
                {
                    string shown = v is { } x ? $"0x{x:x}" : element.GetRawText();
                    problems.Add($"$.identity.{name}: {shown} does not fit in {System.Numerics.BitOperations.PopCount(max)} bits");
                }

                return v ?? 0;
            }

            var id = new CardIdentity(
                (ushort)Field("vendorId", 0xFFFF),
                (ushort)Field("deviceId", 0xFFFF),
                (ushort)Field("subsystemVendorId", 0xFFFF),
                (ushort)Field("subsystemId", 0xFFFF),
                (uint)Field("classCode", 0xFF_FFFF),
                (byte)Field("revision", 0xFF),
                identity.TryGetProperty("serialNumber", out _) ? Field("serialNumber", ulong.MaxValue) : null);
            if (id.VendorId is 0 or 0xFFFF)
            {
                problems.Add($"$.identity.vendorId: 0x{id.VendorId:x4} is not a valid vendor ID");
            }

            var bars = root.GetProperty("bars");
            var registers = Bar(bars.GetProperty("registers"), "$.bars.registers", problems);
            var msix = Bar(bars.GetProperty("msix"), "$.bars.msix", problems);
            var sram = bars.TryGetProperty("sram", out var s) ? Bar(s, "$.bars.sram", problems) : null;
            if (registers.Size < MinRegistersBarSize)
            {
                problems.Add($"$.bars.registers.size: {registers.Size} is below the register map's {MinRegistersBarSize} bytes");
            }

            if (registers.Mmap || msix.Mmap)
            {
                problems.Add("$.bars: only the sram BAR can be offered for mmap");
            }

            if (sram is not null && sram.Size < (ulong)Environment.SystemPageSize)
            {
                // The client maps the SRAM, so it is whole pages (4 KiB on x86-64, up to 64 KiB on arm64 hosts).
                problems.Add($"$.bars.sram.size: {sram.Size} is below this host's page size ({Environment.SystemPageSize} bytes)");
            }

            CheckSlots([("registers", registers), ("msix", msix), ("sram", sram)], problems);

            var irq = root.GetProperty("interrupts");
            int msixVectors = (int)Integer(irq.GetProperty("msixVectors"));
            int msiVectors = irq.TryGetProperty("msiVectors", out var mv) ? (int)Integer(mv) : 0;
            if ((ulong)msixVectors * 16 > msix.Size / 2)
            {
                problems.Add($"$.interrupts.msixVectors: {msixVectors} table entries do not fit in the first half of the {msix.Size}-byte MSI-X BAR (the PBA is at the half)");
            }

            var dmaElement = root.GetProperty("dma");
            var dma = new DmaConstraints(
                (int)Integer(dmaElement.GetProperty("addressBits")),
                (uint)Integer(dmaElement.GetProperty("alignment")),
                (uint)Integer(dmaElement.GetProperty("maxSegmentBytes")),
                dmaElement.TryGetProperty("boundaryBits", out var bb) ? (int)Integer(bb) : 32);
            if ((dma.Alignment & (dma.Alignment - 1)) != 0)
            {
                problems.Add($"$.dma.alignment: {dma.Alignment} is not a power of two");
            }

            if (dma.MaxSegmentBytes % dma.Alignment != 0)
            {
                problems.Add($"$.dma.maxSegmentBytes: {dma.MaxSegmentBytes} is not a multiple of the alignment {dma.Alignment}");
            }

            var streams = new List<StreamLayout>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            int i = 0;
            foreach (var st in root.GetProperty("streams").EnumerateArray())
            {
                string name = st.GetProperty("name").GetString()!;
                if (!names.Add(name))
                {
                    problems.Add($"$.streams[{i}].name: duplicate stream name \"{name}\"");
                }

                streams.Add(new StreamLayout(
                    name,
                    st.GetProperty("direction").GetString() == "playback" ? StreamDirection.Playback : StreamDirection.Capture,
                    (int)Integer(st.GetProperty("maxChannels")),
                    [.. st.GetProperty("formats").EnumerateArray().Select(f => f.GetString()!)],
                    [.. st.GetProperty("rates").EnumerateArray().Select(r => (int)Integer(r))],
                    st.TryGetProperty("route", out var route) ? route.GetString() : null));
                i++;
            }

            // Card order (spec §9): playback streams first, then capture streams, each in file order.
            streams = [.. streams.Where(x => x.Direction == StreamDirection.Playback), .. streams.Where(x => x.Direction == StreamDirection.Capture)];
            if (streams.Count > AudioCard.AudioSdBlock.Count)
            {
                problems.Add($"$.streams: {streams.Count} streams, the register map has room for {AudioCard.AudioSdBlock.Count}");
            }

            CheckRoutes(streams, problems);

            if (streams.Count(x => x.Direction == StreamDirection.Playback) > 255 || streams.Count(x => x.Direction == StreamDirection.Capture) > 255)
            {
                problems.Add("$.streams: at most 255 streams per direction");
            }

            byte[]? rom = null;
            if (root.TryGetProperty("expansionRom", out var romElement))
            {
                string romPath = Path.Combine(Path.GetDirectoryName(sourcePath) ?? ".", romElement.GetProperty("file").GetString()!);
                try
                {
                    rom = RegularFile.ReadAllBytes(romPath, ExpansionRom.MaxImageBytes, "an expansion ROM image");
                    if (rom.Length == 0)
                    {
                        problems.Add($"$.expansionRom.file: {romPath} is empty; a ROM image holds 1 byte .. {RegularFile.FormatSize(ExpansionRom.MaxImageBytes)}");
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                {
                    // ArgumentException: a path the OS cannot name (e.g. one with a NUL) is a bad model, not a crash.
                    problems.Add($"$.expansionRom.file: cannot read {romPath}: {e.Message}");
                }
            }

            if (problems.Count > 0)
            {
                throw new CardModelException($"{sourcePath}: invalid model:" + List(problems));
            }

            string card = root.GetProperty("card").GetString()!;
            return card switch
            {
                AudioCardModel.CardKind => new AudioCardModel
                {
                    SourcePath = sourcePath,
                    Card = card,
                    Name = root.GetProperty("name").GetString()!,
                    Identity = id,
                    RegistersBar = registers,
                    MsixBar = msix,
                    SramBar = sram,
                    ExpansionRom = rom,
                    MsixVectors = msixVectors,
                    MsiVectors = msiVectors,
                    Dma = dma,
                    NoSoftReset = !root.TryGetProperty("power", out var power) || !power.TryGetProperty("noSoftReset", out var nsr) || nsr.GetBoolean(),
                    Streams = streams,
                },

                // The schema names every card kind; a kind it allows and this switch does not is our bug, not the file's.
                _ => throw new CardModelException($"{sourcePath}: unknown card \"{card}\""),
            };
        }
    }

    /// <summary>One problem stays on the message's line (a one-line error on stderr); several get one indented line each.</summary>
    private static string List(IReadOnlyList<string> problems) =>
        problems.Count == 1 ? " " + problems[0] : "\n  " + string.Join("\n  ", problems);

    /// <summary>Route syntax (spec §13) and loopback wiring: a capture stream may loop back only a playback stream whose sink is loopback.</summary>
    private static void CheckRoutes(IReadOnlyList<StreamLayout> streams, List<string> problems)
    {
        foreach (var s in streams.Where(s => s.Route is not null))
        {
            bool playback = s.Direction == StreamDirection.Playback;
            if (!Audio.Routing.AudioRoutes.TryValidate(s.Route!, playback, out string? error))
            {
                problems.Add($"$.streams[{s.Name}].route: {error}");
                continue;
            }

            if (!playback && s.Route!.StartsWith("loopback:", StringComparison.Ordinal))
            {
                string target = s.Route["loopback:".Length..];
                var source = streams.FirstOrDefault(x => x.Name == target);
                if (source is null || source.Direction != StreamDirection.Playback || source.Route != "loopback")
                {
                    problems.Add($"$.streams[{s.Name}].route: \"{s.Route}\" needs a playback stream named {target} routed to \"loopback\"");
                }
            }
        }
    }

    private static BarLayout Bar(JsonElement e, string at, List<string> problems)
    {
        ulong size = (ulong)Integer(e.GetProperty("size"));
        if ((size & (size - 1)) != 0)
        {
            problems.Add($"{at}.size: {size} is not a power of two");
        }

        bool is64 = e.TryGetProperty("addressing", out var a) && Integer(a) == 64;
        int index = (int)Integer(e.GetProperty("index"));
        if (is64 && index == 5)
        {
            problems.Add($"{at}.index: a 64-bit BAR needs two slots; 5 is the last");
        }

        return new BarLayout(index, size, is64,
            e.TryGetProperty("prefetchable", out var p) && p.GetBoolean(),
            e.TryGetProperty("mmap", out var m) && m.GetBoolean());
    }

    private static void CheckSlots(IEnumerable<(string Name, BarLayout? Bar)> bars, List<string> problems)
    {
        var taken = new Dictionary<int, string>();
        foreach (var (name, bar) in bars)
        {
            if (bar is null)
            {
                continue;
            }

            foreach (int slot in bar.Is64Bit ? new[] { bar.Index, bar.Index + 1 } : [bar.Index])
            {
                if (taken.TryGetValue(slot, out var other))
                {
                    problems.Add($"$.bars.{name}: BAR slot {slot} is already used by {other}");
                }
                else
                {
                    taken[slot] = name;
                }
            }
        }
    }

    /// <summary>
    /// An ID: a "0x…" string (the schema allows 1..16 hex digits) or a JSON integer, in any JSON spelling
    /// (4660, 4660.0, -0, 4.66e3). Null when it does not fit in 64 bits.
    /// </summary>
    private static ulong? Number(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.String)
        {
            return ulong.Parse(e.GetString()!.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        }

        if (e.TryGetUInt64(out ulong u))
        {
            return u;
        }

        return e.TryGetDecimal(out decimal d) && d >= 0 && d <= ulong.MaxValue ? (ulong)d : null;
    }

    /// <summary>
    /// A number the schema already checked to be an integer in range (or one of an enum's values). JSON does not
    /// distinguish 64, 64.0 and 6.4e1, so neither may the loader.
    /// </summary>
    private static long Integer(JsonElement e) => e.TryGetInt64(out long v) ? v : (long)e.GetDecimal();
}
