using System.Numerics;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard.Interrupts;

/// <summary>
/// A status register whose bits are interrupt causes (INTSTS, each stream's SD_STS): which causes are enabled
/// comes from other register bits, and each cause is sent on a vector (spec §5, §9.4). The rules, once for all:
/// a cause raised while enabled sends one event; enabling a cause whose status is already set sends one event; the
/// level is status &amp; enabled. Called under the function lock.
/// <para>
/// It also watches the driver acknowledge (spec §5, §9.4): an enabled cause raised again while still set, after the
/// driver read the status and saw it set, counts as unacknowledged; at <see cref="UnacknowledgedLimit"/> in a row
/// <see cref="NotAcknowledged"/> is told, once, until the driver clears it. A guest that is merely slow (it has not
/// read the status since) is never counted, and a clear resets the count, so a raise racing the handler between its
/// read and its write-1-to-clear never adds up.
/// </para>
/// </summary>
internal sealed class CauseRegister(RegisterBank bank, uint statusOffset, Func<ulong> enabled, Func<ulong, int> vectorOf, CardInterrupts interrupts)
{
    private readonly int[] _unacknowledged = new int[64];
    private ulong _seen;

    /// <summary>Raises in a row of a still-set cause the driver had seen, that make a report.</summary>
    public int UnacknowledgedLimit { get; init; } = 8;

    /// <summary>Whether the acknowledge watch runs (the driver's status reads are told by <see cref="StatusRead"/>).</summary>
    public bool WatchAcknowledge { get; init; }

    /// <summary>Told (cause, raises) when a cause reaches <see cref="UnacknowledgedLimit"/>.</summary>
    public Action<ulong, int>? NotAcknowledged { get; init; }

    /// <summary>Enabled causes whose status is set.</summary>
    public ulong Pending => bank.Get(statusOffset) & enabled();

    /// <summary>Sets <paramref name="cause"/>; sends one event if it is enabled.</summary>
    public void Raise(ulong cause)
    {
        ulong before = bank.Get(statusOffset);
        bank.SetBits(statusOffset, cause);
        bool isEnabled = (enabled() & cause) != 0;
        if (WatchAcknowledge && isEnabled)
        {
            Watch(cause, (before & cause) != 0);
        }

        if (isEnabled)
        {
            interrupts.Update(vectorOf(cause), 1);
        }
        else
        {
            interrupts.Update();
        }
    }

    /// <summary>The enables changed (from <paramref name="enabledBefore"/>): newly enabled pending causes send one event each.</summary>
    public void EnablesChanged(ulong enabledBefore)
    {
        ulong newly = enabled() & ~enabledBefore & bank.Get(statusOffset);
        for (ulong bit = 1; bit != 0 && bit <= newly; bit <<= 1)
        {
            if ((newly & bit) != 0)
            {
                interrupts.Update(vectorOf(bit), 1);
            }
        }

        interrupts.Update();
    }

    /// <summary>The status changed without a new cause (W1C, reset): the level may have dropped, and cleared causes are acknowledged.</summary>
    public void StatusChanged()
    {
        ulong status = bank.Get(statusOffset);
        for (int i = 0; i < 64; i++)
        {
            if ((status & (1UL << i)) == 0)
            {
                _unacknowledged[i] = 0;
                _seen &= ~(1UL << i);
            }
        }

        interrupts.Update();
    }

    /// <summary>The driver read the status register: the causes set now are seen.</summary>
    public void StatusRead() => _seen |= bank.Get(statusOffset);

    private void Watch(ulong cause, bool wasSet)
    {
        int bit = BitOperations.TrailingZeroCount(cause);
        if (!wasSet)
        {
            _unacknowledged[bit] = 0;
        }
        else if ((_seen & cause) != 0 && ++_unacknowledged[bit] == UnacknowledgedLimit)
        {
            NotAcknowledged?.Invoke(cause, _unacknowledged[bit]);
        }

        _seen &= ~cause;
    }
}
