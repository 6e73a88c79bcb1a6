using System.Numerics;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard.Interrupts;

/// <summary>
/// A status register whose bits are interrupt causes (INTSTS, each stream's SD_STS): which causes are enabled
/// comes from other register bits, and each cause is sent on a vector (spec §5, §9.4). The rules, once for all:
/// a cause raised while enabled sends one event; enabling a cause whose status is already set sends one event; the
/// level is status &amp; enabled. Called under the function lock.
/// <para>
/// It also watches the driver acknowledge (spec §5, §9.4): an enabled cause raised again while still set, with the
/// guest active in between (so the driver ran and saw it), counts as unacknowledged; at
/// <see cref="UnacknowledgedLimit"/> in a row <see cref="NotAcknowledged"/> is told, once, until the driver clears it.
/// A guest that is merely slow (no access at all) is never counted.
/// </para>
/// </summary>
internal sealed class CauseRegister(RegisterBank bank, uint statusOffset, Func<ulong> enabled, Func<ulong, int> vectorOf, CardInterrupts interrupts)
{
    private readonly int[] _unacknowledged = new int[64];
    private readonly long[] _activityAtRaise = new long[64];

    /// <summary>Raises in a row of a still-set cause, with guest activity between them, that make a report.</summary>
    public int UnacknowledgedLimit { get; init; } = 8;

    /// <summary>How many guest accesses the function has seen (the watch is off while null).</summary>
    public Func<long>? GuestActivity { get; init; }

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
        if (GuestActivity is not null && isEnabled)
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
            if (_unacknowledged[i] != 0 && (status & (1UL << i)) == 0)
            {
                _unacknowledged[i] = 0;
            }
        }

        interrupts.Update();
    }

    private void Watch(ulong cause, bool wasSet)
    {
        int bit = BitOperations.TrailingZeroCount(cause);
        long activity = GuestActivity!();
        if (!wasSet)
        {
            _unacknowledged[bit] = 0;
        }
        else if (activity != _activityAtRaise[bit] && ++_unacknowledged[bit] == UnacknowledgedLimit)
        {
            NotAcknowledged?.Invoke(cause, _unacknowledged[bit]);
        }

        _activityAtRaise[bit] = activity;
    }
}
