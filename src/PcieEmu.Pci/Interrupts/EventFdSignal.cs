using Microsoft.Win32.SafeHandles;
using PcieEmu.Interop;

namespace PcieEmu.Pci.Interrupts;

/// <summary>An interrupt delivered by adding 1 to an eventfd the client gave us.</summary>
public sealed class EventFdSignal(SafeFileHandle fd) : IInterruptSignal
{
    public bool Signal() => !fd.IsClosed && EventFd.Signal(fd) == 0;

    public void Dispose() => fd.Dispose();
}
