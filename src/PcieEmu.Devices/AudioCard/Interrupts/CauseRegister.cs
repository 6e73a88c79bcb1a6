using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard.Interrupts;

/// <summary>
/// A status register whose bits are interrupt causes (INTSTS, each stream's SD_STS): which causes are enabled
/// comes from other register bits, and each cause is sent on a vector (spec §5, §9.4). The rules, once for all:
/// a cause raised while enabled sends one event; enabling a cause whose status is already set sends one event; the
/// level is status &amp; enabled. Called under the function lock.
/// </summary>
internal sealed class CauseRegister(RegisterBank bank, uint statusOffset, Func<ulong> enabled, Func<ulong, int> vectorOf, CardInterrupts interrupts)
{
    /// <summary>Enabled causes whose status is set.</summary>
    public ulong Pending => bank.Get(statusOffset) & enabled();

    /// <summary>Sets <paramref name="cause"/>; sends one event if it is enabled.</summary>
    public void Raise(ulong cause)
    {
        bank.SetBits(statusOffset, cause);
        if ((enabled() & cause) != 0)
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

    /// <summary>The status changed without a new cause (W1C, reset): the level may have dropped.</summary>
    public void StatusChanged() => interrupts.Update();
}
