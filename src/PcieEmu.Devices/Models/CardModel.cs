namespace PcieEmu.Devices.Models;

/// <summary>
/// A validated card variant (firmware-models/&lt;card&gt;/*.json): what every card of a model file has, whatever its
/// kind. <see cref="CardModelLoader"/> returns the record of the card's kind (<see cref="AudioCardModel"/> for
/// <see cref="AudioCardModel.CardKind"/>); <see cref="IEmulatedCard.Model"/> exposes this part.
/// </summary>
public abstract record CardModel
{
    public required string SourcePath { get; init; }

    /// <summary>The card kind the file configures (its "card"), e.g. <see cref="AudioCardModel.CardKind"/>.</summary>
    public required string Card { get; init; }

    public required string Name { get; init; }

    public required CardIdentity Identity { get; init; }

    public required BarLayout RegistersBar { get; init; }

    public required BarLayout MsixBar { get; init; }

    public BarLayout? SramBar { get; init; }

    public byte[]? ExpansionRom { get; init; }

    public required int MsixVectors { get; init; }

    public required int MsiVectors { get; init; }

    public required DmaConstraints Dma { get; init; }

    public bool NoSoftReset { get; init; } = true;
}

/// <summary>The model of a pcieemu-audio card (firmware-models/pcieemu-audio/*.json): the common part and its streams.</summary>
public sealed record AudioCardModel : CardModel
{
    /// <summary>The "card" of an audio card's model file.</summary>
    public const string CardKind = "pcieemu-audio";

    /// <summary>Streams in card order: playback streams first, then capture streams, each in file order (spec §9).</summary>
    public required IReadOnlyList<StreamLayout> Streams { get; init; }

    public int PlaybackStreams => Streams.Count(s => s.Direction == StreamDirection.Playback);

    public int CaptureStreams => Streams.Count(s => s.Direction == StreamDirection.Capture);
}

public sealed record CardIdentity(ushort VendorId, ushort DeviceId, ushort SubsystemVendorId, ushort SubsystemId, uint ClassCode, byte Revision, ulong? SerialNumber);

public sealed record BarLayout(int Index, ulong Size, bool Is64Bit, bool Prefetchable, bool Mmap);

/// <summary>What the card's DMA engines accept (spec §6.1).</summary>
public sealed record DmaConstraints(int AddressBits, uint Alignment, uint MaxSegmentBytes, int BoundaryBits = 32)
{
    public int AlignmentLog2 => System.Numerics.BitOperations.Log2(Alignment);

    public ulong AddressLimit => AddressBits >= 64 ? ulong.MaxValue : (1UL << AddressBits) - 1;
}

public enum StreamDirection
{
    Playback,
    Capture,
}

/// <summary>A stream as the model file declares it; <see cref="Route"/> is its sink or source (spec §13), null for the default.</summary>
public sealed record StreamLayout(string Name, StreamDirection Direction, int MaxChannels, IReadOnlyList<string> Formats, IReadOnlyList<int> Rates, string? Route = null);

public sealed class CardModelException(string message) : Exception(message);
