using PcieEmu.Devices.AudioCard.Interrupts;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>What the SD register side effects may do to their stream's run: start it, stop it, ask whether it runs.</summary>
internal interface IStreamLifecycle
{
    /// <summary>RUN took (running, or validating its start).</summary>
    bool IsStarted { get; }

    /// <summary>RUN 0→1 (spec §9.3).</summary>
    void StartLocked();

    /// <summary>Stops the stream: no byte moves and no interrupt is raised after this.</summary>
    void StopLocked(string reason);
}

/// <summary>
/// The side effects of one stream's SD registers (spec §9.3–§9.4, §12), bound into the card's register bank by
/// <see cref="AudioRegisterTable.CreateSdDefinitions"/>. They run under the function lock and stay O(1): they
/// change registers, gains and causes, and start or stop the run through <see cref="IStreamLifecycle"/>; moving
/// samples is the stream's scheduler side.
/// </summary>
internal sealed class StreamRegisterHandlers(IStreamLifecycle stream, StreamRegisterBlock registers, StreamGains gains, CauseRegister causes,
    StreamFaultReporter faults) : IAudioSdRegisterHandlers
{
    /// <summary>The causes SD_CTL's enables let through (IOCE: IOC; ERRE: XRUN and ERR).</summary>
    public static ulong EnabledCauses(ulong ctl) =>
        ((ctl & AudioSdFields.Ctl.Ioce) != 0 ? AudioSdFields.Sts.Ioc : 0)
        | ((ctl & AudioSdFields.Ctl.Erre) != 0 ? AudioSdFields.Sts.Xrun | AudioSdFields.Sts.Err : 0);

    /// <summary>SD_CTL (spec §9.3): SRST, RUN 0→1 starts, 1→0 stops; the enables gate the causes.</summary>
    public void StreamControl(in RegisterWrite write)
    {
        if ((write.NewValue & AudioSdFields.Ctl.Srst) != 0)
        {
            stream.StopLocked("SRST");
            registers.Reset();
            gains.Reset();
            causes.StatusChanged();
            return;
        }

        bool runNow = (write.NewValue & AudioSdFields.Ctl.Run) != 0;
        bool runBefore = (write.OldValue & AudioSdFields.Ctl.Run) != 0;
        causes.EnablesChanged(EnabledCauses(write.OldValue));
        if (runNow && !runBefore)
        {
            stream.StartLocked();
        }
        else if (!runNow && runBefore)
        {
            stream.StopLocked("RUN cleared");
        }

        causes.StatusChanged();
    }

    public void StreamStatusWritten(in RegisterWrite write) => causes.StatusChanged();

    /// <summary>SD_STS read: the driver sees the causes set now (the acknowledge watch, spec §9.4).</summary>
    public ulong StreamStatusRead(RegisterDefinition register, ulong stored)
    {
        causes.StatusRead();
        return stored;
    }

    /// <summary>SD_FMT, SD_BDL, SD_BDLN, SD_CBL, SD_POSBUF: refused (old value kept) while the stream runs.</summary>
    public void StreamProgrammed(in RegisterWrite write)
    {
        if (stream.IsStarted)
        {
            registers.Set(write.Register.Offset, write.OldValue);
            faults.ReprogrammedWhileRunning(write);
        }
    }

    /// <summary>SD_CHVOL&lt;c&gt; (spec §12).</summary>
    public void ChannelVolumeWritten(in RegisterWrite write) => gains.Written(write);
}
