namespace PcieEmu.Devices.Models;

/// <summary>
/// A validated card variant (firmware-models/&lt;card&gt;/*.json): what every card of a model file has, whatever its
/// kind. <see cref="CardModelLoader"/> returns the record of the card's kind (<see cref="AudioCardModel"/> for
/// <see cref="AudioCardModel.CardKind"/>); <see cref="IEmulatedCard.Model"/> exposes this part.
/// </summary>
public abstract record CardModel
{
    /// <summary>
    /// The model file's full path (or the name given to <see cref="CardModelLoader.Parse"/>): the prefix of every error
    /// about this model, and the directory a relative <c>expansionRom.file</c> was read from.
    /// </summary>
    public required string SourcePath { get; init; }

    /// <summary>The card kind the file configures (its "card"), e.g. <see cref="AudioCardModel.CardKind"/>.</summary>
    public required string Card { get; init; }

    /// <summary>The file's "name" (1..80 characters): names the card's PCI function, hence its logs and scheduler thread.</summary>
    public required string Name { get; init; }

    /// <summary>The IDs the card's configuration space reports (spec §2), and its serial number if it has one.</summary>
    public required CardIdentity Identity { get; init; }

    /// <summary>The register file BAR (spec §4): 16 KiB .. 16 MiB; never offered for mmap.</summary>
    public required BarLayout RegistersBar { get; init; }

    /// <summary>The BAR holding the MSI-X table (at offset 0) and PBA (at half its size); never offered for mmap.</summary>
    public required BarLayout MsixBar { get; init; }

    /// <summary>The shared SRAM BAR (spec §3), at least one host page; null when the model has none.</summary>
    public BarLayout? SramBar { get; init; }

    /// <summary>
    /// The expansion ROM image, read from <c>expansionRom.file</c> when the model was loaded (1 byte .. 16 MiB); null
    /// for no ROM. Not copied by the card: do not change it once a card is built from this model.
    /// </summary>
    public byte[]? ExpansionRom { get; init; }

    /// <summary>MSI-X table entries, 1..255 (reported in CAPS.NVEC).</summary>
    public required int MsixVectors { get; init; }

    /// <summary>MSI vectors the MSI capability offers (Multiple Message Capable): 0 (no MSI capability), 1, 2, 4 … 32.</summary>
    public required int MsiVectors { get; init; }

    /// <summary>What the card's DMA engines accept (reported in DMACAPS and MAXSEG).</summary>
    public required DmaConstraints Dma { get; init; }

    /// <summary>
    /// PMCSR No_Soft_Reset (file <c>power.noSoftReset</c>, true when absent): true keeps the card's state across
    /// D3hot → D0; false makes that transition reset the function.
    /// </summary>
    public bool NoSoftReset { get; init; } = true;
}

/// <summary>The model of a pcieemu-audio card (firmware-models/pcieemu-audio/*.json): the common part and its streams.</summary>
public sealed record AudioCardModel : CardModel
{
    /// <summary>The "card" of an audio card's model file.</summary>
    public const string CardKind = "pcieemu-audio";

    /// <summary>Streams in card order: playback streams first, then capture streams, each in file order (spec §9).</summary>
    public required IReadOnlyList<StreamLayout> Streams { get; init; }

    /// <summary>Playback streams: the first this many of <see cref="Streams"/> (CAPS.NPLAY).</summary>
    public int PlaybackStreams => Streams.Count(s => s.Direction == StreamDirection.Playback);

    /// <summary>Capture streams: the rest of <see cref="Streams"/> (CAPS.NCAP).</summary>
    public int CaptureStreams => Streams.Count(s => s.Direction == StreamDirection.Capture);
}

/// <summary>The IDs a card's configuration space reports (spec §2).</summary>
/// <param name="VendorId">PCI vendor ID; never 0 or 0xFFFF.</param>
/// <param name="DeviceId">PCI device ID.</param>
/// <param name="SubsystemVendorId">Subsystem vendor ID.</param>
/// <param name="SubsystemId">Subsystem ID.</param>
/// <param name="ClassCode">The 24-bit class code: base class, subclass, programming interface (high to low byte).</param>
/// <param name="Revision">Revision ID.</param>
/// <param name="SerialNumber">The Device Serial Number capability's 64-bit value; null for no DSN capability.</param>
public sealed record CardIdentity(ushort VendorId, ushort DeviceId, ushort SubsystemVendorId, ushort SubsystemId, uint ClassCode, byte Revision, ulong? SerialNumber);

/// <summary>Where a model puts one BAR and how it decodes.</summary>
/// <param name="Index">The BAR slot, 0..5; a 64-bit BAR also takes the next slot.</param>
/// <param name="Size">Bytes; a power of two.</param>
/// <param name="Is64Bit">A 64-bit memory BAR (two slots) rather than a 32-bit one.</param>
/// <param name="Prefetchable">The BAR's Prefetchable bit.</param>
/// <param name="Mmap">Offered to the client for direct mapping (allowed for the SRAM BAR only).</param>
public sealed record BarLayout(int Index, ulong Size, bool Is64Bit, bool Prefetchable, bool Mmap);

/// <summary>What the card's DMA engines accept (spec §6.1); a transfer outside it fails with an ERRCODE, never an exception.</summary>
/// <param name="AddressBits">Addresses the engines reach: below 2^AddressBits (32..64; DMACAPS.ADDR_BITS).</param>
/// <param name="Alignment">Bytes every transfer and segment start is aligned to: a power of two, 1 .. 64 KiB (DMACAPS.ALIGN_LOG2).</param>
/// <param name="MaxSegmentBytes">Largest transfer or segment, a multiple of <paramref name="Alignment"/> (MAXSEG).</param>
/// <param name="BoundaryBits">A segment may not cross a 2^BoundaryBits boundary (12..64; DMACAPS.BOUNDARY_BITS).</param>
public sealed record DmaConstraints(int AddressBits, uint Alignment, uint MaxSegmentBytes, int BoundaryBits = 32)
{
    /// <summary>log2 of <see cref="Alignment"/>, as DMACAPS reports it.</summary>
    internal int AlignmentLog2 => System.Numerics.BitOperations.Log2(Alignment);

    /// <summary>The highest address the engines reach: 2^<see cref="AddressBits"/> - 1.</summary>
    internal ulong AddressLimit => AddressBits >= 64 ? ulong.MaxValue : (1UL << AddressBits) - 1;
}

/// <summary>Which way a stream moves samples.</summary>
public enum StreamDirection
{
    /// <summary>Guest memory to the card (to the stream's sink).</summary>
    Playback,

    /// <summary>The card (from the stream's source) to guest memory.</summary>
    Capture,
}

/// <summary>A stream as the model file declares it (spec §9).</summary>
/// <param name="Name">The stream's name (lower-case, up to 32 characters), unique in the model; routes and logs use it.</param>
/// <param name="Direction">Playback or capture.</param>
/// <param name="MaxChannels">Most channels a stream format may ask for, 1..32.</param>
/// <param name="Formats">Sample formats offered: <c>S16_LE</c>, <c>S24_LE</c>, <c>S32_LE</c>, <c>FLOAT_LE</c>.</param>
/// <param name="Rates">Sample rates offered, in Hz: 44100, 48000, 96000, 192000.</param>
/// <param name="Route">The stream's sink or source (spec §13), e.g. <c>wav:/tmp/out.wav</c> or <c>tone:440</c>; null for
/// the default (sink <c>memory</c>, source <c>tone:440,660</c>).</param>
public sealed record StreamLayout(string Name, StreamDirection Direction, int MaxChannels, IReadOnlyList<string> Formats, IReadOnlyList<int> Rates, string? Route = null);

/// <summary>
/// A model file (or a route given for it) that cannot be used: unreadable, not JSON, against the schema or the card's
/// limits. The message names the file or route and every problem with its JSON path, ready to print as it is.
/// </summary>
/// <param name="message">The file or route, then the problems.</param>
public sealed class CardModelException(string message) : Exception(message);
