using PcieEmu.Pci.Checking;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>
/// Turns what went wrong with one stream into the card's reports: the driver-rule violations (with the stream's
/// register, value, bad address and descriptor filled in) and the stream's error log line. Called under the
/// function lock from the stream's register side effects and its stops; it only reads the stream's registers.
/// </summary>
internal sealed class StreamFaultReporter(IStreamHost host, int index, StreamRegisterBlock registers)
{
    /// <summary>SD_FMT, SD_BDL, SD_BDLN, SD_CBL or SD_POSBUF written while the stream runs (the write was ignored).</summary>
    public void ReprogrammedWhileRunning(in RegisterWrite write) =>
        host.Violation(AudioRules.StreamReprogrammedWhileRunning, new ViolationDetails
        {
            What = $"wrote {write.Register.Name} (0x{write.Written:x}) while stream {index} runs; the write was ignored",
            Stream = index,
            Register = write.Register.Name,
            RegisterOffset = write.Register.Offset,
            Value = write.Written,
        });

    /// <summary>The driver keeps handling this stream's interrupts without clearing the cause (spec §9.4): a storm in the making.</summary>
    public void NotAcknowledged(ulong cause, int raises)
    {
        string name = cause == AudioSdFields.Sts.Ioc ? "IOC" : cause == AudioSdFields.Sts.Xrun ? "XRUN" : "ERR";
        uint sts = AudioSdBlock.Offset(index, AudioSdRegister.Sts);
        host.Violation(AudioRules.InterruptNotAcknowledged, new ViolationDetails
        {
            What = $"SD_STS.{name} of stream {index} was raised {raises} times in a row while still set, with the driver accessing the card in between: the interrupt handler never writes 1 to clear it",
            Stream = index,
            Register = host.RegisterName(sts),
            RegisterOffset = sts,
            Value = registers.Get(AudioSdRegister.Sts),
            Consequence = "one event per raise still goes out (spec §5); with INTx the line would stay asserted",
        });
    }

    /// <summary>
    /// A start refused (<paramref name="stopped"/> false) or a running stream failed: the error log line, and the
    /// violation of the rule its ERRCODE stands for, if any, charged to <paramref name="runCause"/>.
    /// </summary>
    public void Faulted(StreamFault fault, bool stopped, GuestAccess? runCause)
    {
        var code = fault.Code;
        StreamLog.Error(host.Logger, index, code, fault.What);
        if (AudioRules.Stream(code) is { } rule)
        {
            host.Violation(rule, new ViolationDetails
            {
                What = stopped ? $"stream {index} stopped while running: {fault.What}" : $"stream {index} was refused at RUN: {fault.What}",
                Stream = index,
                Register = fault.Register is { } reg ? host.RegisterName(AudioSdBlock.Offset(index, reg)) : null,
                RegisterOffset = fault.Register is { } r ? AudioSdBlock.Offset(index, r) : null,
                Value = fault.Value,
                BadAddress = fault.BadAddress,
                Descriptor = fault.Descriptor,
                ErrorCode = AudioRules.ErrcodeText(code),
                Consequence = stopped ? "the stream stopped: RUN cleared, SD_STS.ERR set" : "the stream did not start: RUN cleared, SD_STS.ERR set",
                Cause = runCause,
            });
        }
    }
}
