using PcieEmu.Pci;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Devices.AudioCard.Interrupts;

/// <summary>
/// The card's one interrupt recompute (spec §5): every cause register reports here, and only here are events sent
/// (MSI-X or MSI, one message per event) and the INTx level set (asserted while any enabled cause is pending).
/// Called under the function lock. The function is looked up at each call: the card builds it after its registers.
/// </summary>
internal sealed class CardInterrupts(Func<PciFunction> functionOf)
{
    private readonly List<CauseRegister> _sources = [];
    private long _events;
    private bool _intxLevel;

    /// <summary>Interrupt events generated (what INTCNT counts, without its 32-bit wrap).</summary>
    public long Events => Interlocked.Read(ref _events);

    public void Add(CauseRegister source) => _sources.Add(source);

    /// <summary>
    /// <paramref name="events"/> new events on <paramref name="vector"/> (each a message in the message modes;
    /// none reach the guest in INTx mode, where the level speaks), then the INTx level.
    /// </summary>
    public void Update(int vector = 0, int events = 0)
    {
        var function = functionOf();
        for (int i = 0; i < events; i++)
        {
            if (function.Interrupts.Raise(vector) != InterruptOutcome.NotMessageMode)
            {
                Interlocked.Increment(ref _events);
            }
        }

        bool level = false;
        foreach (var s in _sources)
        {
            level |= s.Pending != 0;
        }

        bool canAssert = function.Interrupts.Mode == InterruptMode.Intx && (function.Command & PciCommand.InterruptDisable) == 0;
        if (level && !_intxLevel && canAssert)
        {
            Interlocked.Increment(ref _events);
        }

        _intxLevel = level;
        function.Interrupts.SetIntxLevel(level);
    }

    /// <summary>INTCNT back to 0 (card reset).</summary>
    public void ResetCount() => Interlocked.Exchange(ref _events, 0);
}
