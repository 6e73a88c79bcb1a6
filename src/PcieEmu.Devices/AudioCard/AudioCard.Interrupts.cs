using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard;

/// <summary>Interrupt causes and their delivery (spec §5). Every method runs under the function lock.</summary>
public sealed partial class AudioCard
{
    private const int MiscVector = 0;

    private long _interruptEvents;
    private int _diagVector;
    private bool _intxLevel;

    /// <summary>Sets a cause's INTSTS bit; an enabled cause sends one event on its vector (edge modes).</summary>
    private void RaiseCause(ulong cause, int vector)
    {
        _registers.SetBits((uint)AudioRegister.Intsts, cause);
        if ((_registers.Get((uint)AudioRegister.Inten) & cause) != 0)
        {
            SendEvent(vector);
        }

        UpdateIntx();
    }

    private void SendEvent(int vector)
    {
        var outcome = Function.Interrupts.Raise(vector);
        if (outcome != InterruptOutcome.NotMessageMode)
        {
            _interruptEvents++;
        }
    }

    /// <summary>The one place the INTx level is computed: asserted while INTSTS &amp; INTEN ≠ 0.</summary>
    private void UpdateIntx()
    {
        bool level = (_registers.Get((uint)AudioRegister.Intsts) & _registers.Get((uint)AudioRegister.Inten) & ~AudioFields.Intsts.Sis) != 0
                     || AnyStreamInterruptPending();
        bool canAssert = Function.Interrupts.Mode == InterruptMode.Intx
                         && (Function.Command & PcieEmu.Pci.Config.PciCommand.InterruptDisable) == 0;
        if (level && !_intxLevel && canAssert)
        {
            _interruptEvents++;
        }

        _intxLevel = level;
        Function.Interrupts.SetIntxLevel(level);
    }

    private int VectorOf(ulong cause) => cause == AudioFields.Intsts.Diag ? _diagVector : MiscVector;

    private void InterruptEnableWritten(in RegisterWrite write)
    {
        // Enabling a cause whose status is already set sends one event (spec §5).
        ulong newlyEnabled = write.NewValue & ~write.OldValue & _registers.Get((uint)AudioRegister.Intsts);
        for (ulong bit = 1; bit != 0 && bit <= newlyEnabled; bit <<= 1)
        {
            if ((newlyEnabled & bit) != 0)
            {
                SendEvent(VectorOf(bit));
            }
        }

        UpdateIntx();
    }

    /// <summary>DIAG_IRQ: set INTSTS.DIAG and send exactly one event on VECTOR if enabled (spec §5).</summary>
    private void DiagnosticInterrupt(in RegisterWrite write)
    {
        _diagVector = (int)((write.Written & AudioFields.DiagIrq.Vector) >> AudioFields.DiagIrq.VectorShift);
        RaiseCause(AudioFields.Intsts.Diag, _diagVector);
    }
}
