using Microsoft.Extensions.Logging;
using PcieEmu.Pci.Capabilities;
using PcieEmu.Pci.Config;

using PcieEmu.Pci.Observation;

namespace PcieEmu.Pci.Interrupts;

/// <summary>
/// One interrupt API for devices, whatever the driver enabled:
/// <list type="bullet">
/// <item><see cref="Raise"/> is an edge event on a vector: one MSI/MSI-X message, or a pending bit while masked.</item>
/// <item><see cref="SetIntxLevel"/> drives INTA#: signalled on assertion, then auto-masked until the client
/// unmasks (vfio semantics: the client EOIs by UNMASK and we re-signal if the line is still asserted).</item>
/// </list>
/// The client side (<see cref="Assign"/>, <see cref="SetMasked"/>, <see cref="Inject"/>) comes from vfio-user
/// SET_IRQS. Routing follows config space: MSI-X enabled wins over MSI, MSI over INTx. Vectors beyond the
/// number enabled are folded modulo that number. Shares the function's lock.
/// </summary>
public sealed partial class InterruptController
{
    private readonly object _sync;
    private readonly ConfigSpace _config;
    private readonly ILogger _logger;
    private readonly ClientSignals _client;
    private MsiCapability? _msi;
    private MsixCapability? _msix;
    private ulong[] _msixPending = [];
    private uint _msiPending;
    private bool _intxLevel;
    private bool _intxMasked;
    private ulong[] _msixUnusableReported = [];

    internal InterruptController(object sync, ConfigSpace config, ILogger logger)
    {
        _sync = sync;
        _config = config;
        _logger = logger;
        _client = new ClientSignals(logger);
        Bind(null, null);
    }

    /// <summary>
    /// Which mechanism carries interrupts now, as the driver's config writes (MSI/MSI-X enable) chose it; changes under
    /// the function lock. A device decides between <see cref="Raise"/> and <see cref="SetIntxLevel"/> by it only if it
    /// must; raising in INTx mode just returns <see cref="InterruptOutcome.NotMessageMode"/>.
    /// </summary>
    public InterruptMode Mode { get; private set; } = InterruptMode.Intx;

    /// <summary>
    /// May the function send messages now? MSI/MSI-X are memory writes: they need Bus Master Enable and D0
    /// (PCI 3.0 §6.8, PCI PM 1.2 §5.3). While not, raised messages wait in the pending bits.
    /// </summary>
    internal Func<bool> MessagesAllowed { get; set; } = static () => true;

    /// <summary>May INTA# assert now? Not in D3hot (PCI PM 1.2 §5.3).</summary>
    internal Func<bool> IntxAllowed { get; set; } = static () => true;

    /// <summary>Raised (under the function lock) after each delivery; used by tracing and statistics.</summary>
    public event Action<IrqIndex, int>? Delivered;

    /// <summary>Set by <see cref="PciFunction.Observe"/>: the client-side methods are then observed units.</summary>
    internal FunctionObservation? Observation { get; set; }

    internal void Bind(MsiCapability? msi, MsixCapability? msix)
    {
        _msi = msi;
        _msix = msix;
        for (int i = 0; i < ClientSignals.Indices; i++)
        {
            _client.Size((IrqIndex)i, VectorCount((IrqIndex)i));
        }

        _msixPending = new ulong[((_msix?.Vectors ?? 0) + 63) / 64];
        _msixUnusableReported = new ulong[_msixPending.Length];
    }

    /// <summary>Where a device's use of a vector the driver did not set up is reported (set by the function).</summary>
    internal Checking.DriverChecker? Checker { get; set; }

    /// <summary>
    /// Vectors the client may wire for <paramref name="index"/> (vfio's IRQ count): 1 for INTx, ERR and REQ; the
    /// capability's size for MSI (Multiple Message Capable, not what the driver enabled) and MSI-X (table entries);
    /// 0 when the function lacks that capability or for an unknown index. Fixed once the function is built.
    /// </summary>
    public int VectorCount(IrqIndex index) => index switch
    {
        IrqIndex.Intx => 1,
        IrqIndex.Msi => _msi?.Vectors ?? 0,
        IrqIndex.Msix => _msix?.Vectors ?? 0,
        IrqIndex.Err => 1,
        IrqIndex.Req => 1,
        _ => 0,
    };

    // ---- device side ----

    /// <summary>An edge event on <paramref name="vector"/> (see spec §5 of each card for which vector a cause uses).</summary>
    public InterruptOutcome Raise(int vector)
    {
        lock (_sync)
        {
            switch (Mode)
            {
                case InterruptMode.Msix:
                    {
                        int v = Fold(vector, _msix!.Vectors);
                        if (!MessagesAllowed() || !MsixDeliverable(v))
                        {
                            _msixPending[v >> 6] |= 1UL << (v & 63);
                            if (MessagesAllowed())
                            {
                                NoteUnusableMsixVector(v);
                            }

                            return InterruptOutcome.Pending;
                        }

                        _msixUnusableReported[v >> 6] &= ~(1UL << (v & 63));
                        Deliver(IrqIndex.Msix, v);
                        return InterruptOutcome.Delivered;
                    }

                case InterruptMode.Msi:
                    {
                        int v = Fold(vector, _msi!.EnabledVectors);
                        if (!MessagesAllowed() || !MsiDeliverable(v))
                        {
                            _msiPending |= 1u << v;
                            _msi.SetPendingBits(_msiPending);
                            return InterruptOutcome.Pending;
                        }

                        Deliver(IrqIndex.Msi, v);
                        return InterruptOutcome.Delivered;
                    }

                default:
                    return InterruptOutcome.NotMessageMode;
            }
        }
    }

    /// <summary>The device's INTA# level. Status.Interrupt_Status follows it in every mode.</summary>
    public void SetIntxLevel(bool asserted)
    {
        lock (_sync)
        {
            _intxLevel = asserted;
            UpdateIntx();
        }
    }

    /// <summary>
    /// The level the device last set with <see cref="SetIntxLevel"/> (false after a function reset), whatever the
    /// mode, Interrupt Disable or client mask make of it. Takes the function lock; any thread.
    /// </summary>
    public bool IntxLevel
    {
        get
        {
            lock (_sync)
            {
                return _intxLevel;
            }
        }
    }

    /// <summary>Signals the client's error eventfd (vfio ERR index): an uncorrectable error was detected.</summary>
    public void SignalError()
    {
        lock (_sync)
        {
            Deliver(IrqIndex.Err, 0);
        }
    }

    /// <summary>Signals the client's request eventfd (vfio REQ index): the device asks to be released.</summary>
    public void SignalRequest()
    {
        lock (_sync)
        {
            Deliver(IrqIndex.Req, 0);
        }
    }

    // ---- client side ----

    /// <summary>
    /// Wires signals for vectors [start, start+signals.Length) of <paramref name="index"/>; a null entry
    /// de-assigns. Takes ownership of the signals (replaced ones are disposed). Pending vectors that become
    /// deliverable are delivered.
    /// </summary>
    public void Assign(IrqIndex index, int start, ReadOnlySpan<IInterruptSignal?> signals)
    {
        Span<byte> present = signals.Length <= 256 ? stackalloc byte[signals.Length] : new byte[signals.Length];
        for (int i = 0; i < signals.Length; i++)
        {
            present[i] = signals[i] is null ? (byte)0 : (byte)1;
        }

        using var unit = Observation is { } t ? t.Begin(TraceEventKind.IrqAssign, (ulong)index, (ulong)start, data: present) : default;
        lock (_sync)
        {
            _client.Assign(index, start, signals);
            FlushPending();
            if (index == IrqIndex.Intx)
            {
                UpdateIntx();
            }
        }
    }

    /// <summary>Removes every signal of <paramref name="index"/> (SET_IRQS count 0: "disable the index").</summary>
    public void DisableAll(IrqIndex index)
    {
        using var unit = Observation is { } t ? t.Begin(TraceEventKind.IrqDisable, (ulong)index) : default;
        lock (_sync)
        {
            _client.RemoveAll(index);
            if (index == IrqIndex.Intx)
            {
                _intxMasked = false;
            }
        }
    }

    /// <summary>Client mask/unmask. Unmasking INTx is the client's end-of-interrupt: re-signal if still asserted.</summary>
    public void SetMasked(IrqIndex index, int start, int count, bool masked)
    {
        using var unit = Observation is { } t ? t.Begin(TraceEventKind.IrqMask, (ulong)index, (ulong)start, (uint)count | (masked ? 1UL << 32 : 0UL)) : default;
        lock (_sync)
        {
            _client.SetMasked(index, start, count, masked);
            if (count == 0)
            {
                return;
            }

            if (index == IrqIndex.Intx)
            {
                _intxMasked = masked;
                UpdateIntx();
            }
            else
            {
                FlushPending();
            }
        }
    }

    /// <summary>Client-requested trigger (DATA_NONE/BOOL + TRIGGER): signals the vector as the device would.</summary>
    public void Inject(IrqIndex index, int vector)
    {
        using var unit = Observation is { } t ? t.Begin(TraceEventKind.IrqInject, (ulong)index, (ulong)vector) : default;
        lock (_sync)
        {
            if (vector < 0 || vector >= _client.Vectors(index))
            {
                throw new ArgumentOutOfRangeException(nameof(vector));
            }

            Deliver(index, vector);
        }
    }

    /// <summary>
    /// Whether the client masked this vector through SET_IRQS MASK (not the guest's MSI/MSI-X mask bits); a function
    /// reset unmasks every vector. Takes the function lock; any thread.
    /// </summary>
    /// <exception cref="IndexOutOfRangeException"><paramref name="vector"/> is not below <see cref="VectorCount"/>.</exception>
    public bool IsClientMasked(IrqIndex index, int vector)
    {
        lock (_sync)
        {
            return _client.IsMasked(index, vector);
        }
    }

    /// <summary>
    /// Whether the client wired a signal (an eventfd) to this vector; unwired vectors hold raised events as pending.
    /// The wiring survives function resets and goes when the client disables the index or leaves. Takes the function
    /// lock; any thread.
    /// </summary>
    /// <exception cref="IndexOutOfRangeException"><paramref name="vector"/> is not below <see cref="VectorCount"/>.</exception>
    public bool HasSignal(IrqIndex index, int vector)
    {
        lock (_sync)
        {
            return _client.HasSignal(index, vector);
        }
    }

    /// <summary>Deliveries so far on one vector (for tests, statistics and the demo).</summary>
    public long DeliveredCount(IrqIndex index, int vector)
    {
        lock (_sync)
        {
            return _client.DeliveredCount(index, vector);
        }
    }

    /// <summary>MSI-X Pending Bit Array qword <paramref name="qword"/>.</summary>
    internal ulong ReadPba(int qword)
    {
        lock (_sync)
        {
            return qword >= 0 && qword < _msixPending.Length ? _msixPending[qword] : 0;
        }
    }

    /// <summary>
    /// Whether an MSI-X or MSI event on <paramref name="vector"/> is held back (masked, not wired, or messages not
    /// allowed) waiting to be delivered: the MSI-X PBA bit, or the MSI Pending bit. Always false for INTx, ERR and REQ.
    /// Takes the function lock; any thread.
    /// </summary>
    /// <exception cref="IndexOutOfRangeException">An MSI-X <paramref name="vector"/> outside the PBA (negative, or past the table rounded up to 64).</exception>
    public bool IsPending(IrqIndex index, int vector)
    {
        lock (_sync)
        {
            return index switch
            {
                IrqIndex.Msix => (_msixPending[vector >> 6] & (1UL << (vector & 63))) != 0,
                IrqIndex.Msi => (_msiPending & (1u << vector)) != 0,
                _ => false,
            };
        }
    }

    /// <summary>Config space changed (MSI/MSI-X control, MSI mask bits, Command.Interrupt_Disable).</summary>
    internal void ReevaluateRouting()
    {
        lock (_sync)
        {
            var mode = _msix is { Enabled: true } ? InterruptMode.Msix
                : _msi is { Enabled: true } ? InterruptMode.Msi
                : InterruptMode.Intx;
            if (mode != Mode)
            {
                LogModeChanged(_logger, Mode, mode);
                Mode = mode;
            }

            FlushPending();
            UpdateIntx();
        }
    }

    /// <summary>Function reset: pending bits, client masks and the INTx level return to idle. Wiring stays (the client owns it).</summary>
    internal void Reset()
    {
        lock (_sync)
        {
            Array.Clear(_msixPending);
            Array.Clear(_msixUnusableReported);
            _msiPending = 0;
            _intxLevel = false;
            _intxMasked = false;
            _client.UnmaskAll();

            Mode = InterruptMode.Intx;
            ReevaluateRouting();
        }
    }

    /// <summary>The client is gone: drop (and close) every signal it gave us.</summary>
    public void ReleaseClientSignals()
    {
        using var unit = Observation is { } t ? t.Begin(TraceEventKind.IrqRelease) : default;
        lock (_sync)
        {
            for (int i = 0; i < ClientSignals.Indices; i++)
            {
                DisableAll((IrqIndex)i);
            }
        }
    }

    private static int Fold(int vector, int enabled) => enabled <= 0 ? 0 : (int)((uint)vector % (uint)enabled);

    /// <summary>
    /// A raise on a vector the driver has not set up (no eventfd: never requested) or while it holds the whole
    /// function masked is a driver bug, reported once until the vector delivers again. A vector the client masks is
    /// not: the client (QEMU) masks vectors on the guest's behalf for its own reasons.
    /// </summary>
    private void NoteUnusableMsixVector(int v)
    {
        ulong bit = 1UL << (v & 63);
        if (Checker is null || (_msixUnusableReported[v >> 6] & bit) != 0)
        {
            return;
        }

        Checking.DriverRule? rule = _msix!.FunctionMasked ? Checking.FunctionRules.MsixVectorMasked
            : !_client.HasSignal(IrqIndex.Msix, v) ? Checking.FunctionRules.MsixVectorUnassigned
            : null;
        if (rule is null)
        {
            return;
        }

        _msixUnusableReported[v >> 6] |= bit;
        Checker.Report(rule, new Checking.ViolationDetails
        {
            What = rule == Checking.FunctionRules.MsixVectorMasked
                ? $"the device signalled MSI-X vector {v} while the driver holds the MSI-X function masked; the message waits in the PBA"
                : $"the device signalled MSI-X vector {v}, which the driver never set up (no interrupt is wired to it); the message waits in the PBA",
            Value = (ulong)v,
        });
    }

    private bool MsixDeliverable(int v) =>
        !_msix!.FunctionMasked && _client.IsOpen(IrqIndex.Msix, v);

    private bool MsiDeliverable(int v) =>
        !_msi!.IsMasked(v) && _client.IsOpen(IrqIndex.Msi, v);

    private void FlushPending()
    {
        if (!MessagesAllowed())
        {
            return;
        }

        if (Mode == InterruptMode.Msix)
        {
            for (int v = 0; v < _msix!.Vectors; v++)
            {
                ulong bit = 1UL << (v & 63);
                if ((_msixPending[v >> 6] & bit) != 0 && MsixDeliverable(v))
                {
                    _msixPending[v >> 6] &= ~bit;
                    Deliver(IrqIndex.Msix, v);
                }
            }
        }
        else if (Mode == InterruptMode.Msi && _msiPending != 0)
        {
            for (int v = 0; v < _msi!.Vectors; v++)
            {
                if ((_msiPending & (1u << v)) != 0 && MsiDeliverable(v))
                {
                    _msiPending &= ~(1u << v);
                    Deliver(IrqIndex.Msi, v);
                }
            }

            _msi.SetPendingBits(_msiPending);
        }
    }

    private void UpdateIntx()
    {
        _config.SetBits16(PciConfigRegisters.Status, (ushort)PciStatus.InterruptStatus, _intxLevel);
        bool disabled = (_config.Get16(PciConfigRegisters.Command) & (ushort)PciCommand.InterruptDisable) != 0;
        bool effective = _intxLevel && Mode == InterruptMode.Intx && !disabled && IntxAllowed();
        if (effective && !_intxMasked && _client.HasSignal(IrqIndex.Intx, 0))
        {
            // Auto-masked until the client's UNMASK (its end of interrupt). Only a signal actually sent masks:
            // with no eventfd wired yet nothing reached the client, which would then never unmask.
            _intxMasked = true;
            Deliver(IrqIndex.Intx, 0);
        }
    }

    private void Deliver(IrqIndex index, int vector)
    {
        if (_client.Signal(index, vector))
        {
            Delivered?.Invoke(index, vector);
        }
    }

    // 2101–2102: ClientSignals.
    [LoggerMessage(EventId = 2100, Level = LogLevel.Debug, Message = "Interrupt mode {Old} -> {New}")]
    private static partial void LogModeChanged(ILogger logger, InterruptMode old, InterruptMode @new);
}
