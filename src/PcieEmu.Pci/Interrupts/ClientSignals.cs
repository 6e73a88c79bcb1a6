using Microsoft.Extensions.Logging;

namespace PcieEmu.Pci.Interrupts;

/// <summary>
/// The client's side of every IRQ index (vfio-user SET_IRQS): per vector, the signal it wired (an eventfd; null
/// until it does), whether it masks the vector, and how many interrupts reached it. Owns the signals: a replaced or
/// removed one is disposed. Not locked itself: <see cref="InterruptController"/> calls it under the function lock.
/// </summary>
internal sealed partial class ClientSignals(ILogger logger)
{
    private const int IndexCount = 5;

    private readonly IInterruptSignal?[][] _signals = new IInterruptSignal?[IndexCount][];
    private readonly bool[][] _masked = new bool[IndexCount][];
    private readonly long[][] _delivered = new long[IndexCount][];

    /// <summary>How many indices there are (INTx, MSI, MSI-X, ERR, REQ).</summary>
    public static int Indices => IndexCount;

    /// <summary>Gives <paramref name="index"/> <paramref name="vectors"/> empty vectors (the function's capabilities are bound).</summary>
    public void Size(IrqIndex index, int vectors)
    {
        _signals[(int)index] = new IInterruptSignal?[vectors];
        _masked[(int)index] = new bool[vectors];
        _delivered[(int)index] = new long[vectors];
    }

    /// <summary>How many vectors <paramref name="index"/> has.</summary>
    public int Vectors(IrqIndex index) => _signals[(int)index].Length;

    /// <summary>
    /// Wires vectors [start, start+signals.Length) of <paramref name="index"/>; a null entry de-assigns. Replaced
    /// signals are disposed.
    /// </summary>
    public void Assign(IrqIndex index, int start, ReadOnlySpan<IInterruptSignal?> signals)
    {
        var slots = _signals[(int)index];
        if (start < 0 || start + signals.Length > slots.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"{index} has {slots.Length} vectors");
        }

        for (int i = 0; i < signals.Length; i++)
        {
            var old = slots[start + i];
            slots[start + i] = signals[i];
            if (!ReferenceEquals(old, signals[i]))
            {
                old?.Dispose();
            }
        }
    }

    /// <summary>Removes (and disposes) every signal of <paramref name="index"/> and clears its masks.</summary>
    public void RemoveAll(IrqIndex index)
    {
        var slots = _signals[(int)index];
        for (int i = 0; i < slots.Length; i++)
        {
            slots[i]?.Dispose();
            slots[i] = null;
        }

        Array.Clear(_masked[(int)index]);
    }

    /// <summary>Sets the client's mask of vectors [start, start+count) of <paramref name="index"/>.</summary>
    public void SetMasked(IrqIndex index, int start, int count, bool masked)
    {
        var m = _masked[(int)index];
        if (start < 0 || count < 0 || start + count > m.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"{index} has {m.Length} vectors");
        }

        for (int i = start; i < start + count; i++)
        {
            m[i] = masked;
        }
    }

    /// <summary>Every vector of every index unmasked (function reset; the wiring stays, the client owns it).</summary>
    public void UnmaskAll()
    {
        foreach (var m in _masked)
        {
            Array.Clear(m);
        }
    }

    public bool IsMasked(IrqIndex index, int vector) => _masked[(int)index][vector];

    public bool HasSignal(IrqIndex index, int vector) => _signals[(int)index][vector] is not null;

    /// <summary>Wired and not masked by the client.</summary>
    public bool IsOpen(IrqIndex index, int vector) => !_masked[(int)index][vector] && _signals[(int)index][vector] is not null;

    public long DeliveredCount(IrqIndex index, int vector) => _delivered[(int)index][vector];

    /// <summary>Signals the vector's client: true when it went out (counted); no signal wired or a failed one is logged.</summary>
    public bool Signal(IrqIndex index, int vector)
    {
        var signal = _signals[(int)index][vector];
        if (signal is null)
        {
            LogNoSignal(logger, index, vector);
            return false;
        }

        if (!signal.Signal())
        {
            LogSignalFailed(logger, index, vector);
            return false;
        }

        _delivered[(int)index][vector]++;
        return true;
    }

    // Event ids 2101–2102 of the interrupt controller's range (2100–2199).
    [LoggerMessage(EventId = 2101, Level = LogLevel.Debug, Message = "No signal wired for {Index} vector {Vector}; interrupt not delivered")]
    private static partial void LogNoSignal(ILogger logger, IrqIndex index, int vector);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Signalling {Index} vector {Vector} failed (client fd gone?)")]
    private static partial void LogSignalFailed(ILogger logger, IrqIndex index, int vector);
}
