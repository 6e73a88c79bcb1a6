using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;

namespace PcieEmu.Pci.Interrupts;

/// <summary>An interrupt delivered by adding 1 to an eventfd the client gave us (an 8-byte write; never blocks).</summary>
/// <param name="fd">The eventfd; the signal owns it from now on and closes it when disposed.</param>
public sealed class EventFdSignal(SafeFileHandle fd) : IInterruptSignal
{
    /// <summary>Adds 1 to the eventfd; false when it is closed or the write failed.</summary>
    public bool Signal() => !fd.IsClosed && EventFd.Signal(fd) == 0;

    /// <summary>Closes the eventfd.</summary>
    public void Dispose() => fd.Dispose();
}
