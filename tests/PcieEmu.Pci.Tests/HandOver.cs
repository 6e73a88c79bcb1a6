using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;

namespace PcieEmu.Pci.Tests;

/// <summary>
/// The controllers' hand-overs, written where the dispose analysis (CA2000) can follow them.
/// <see cref="DmaController.Map"/> and <see cref="InterruptController.Assign"/> take ownership of what they are
/// given and dispose it themselves (a refused backing, a replaced signal): the test keeps a reference only to watch
/// it. Should the call throw instead, the object is disposed here, so a failing test leaks nothing.
/// Linked into every test project that maps guest memory or wires interrupts.
/// </summary>
internal static class HandOver
{
    /// <summary><see cref="DmaController.Map"/>: the controller owns <paramref name="backing"/> once it returns, whatever the errno.</summary>
    public static int MapOwned(this DmaController dma, ulong iova, ulong size, DmaAccess access, IDmaBacking backing)
    {
        IDmaBacking? pending = backing;
        try
        {
            int errno = dma.Map(iova, size, access, pending);
            pending = null;
            return errno;
        }
        finally
        {
            pending?.Dispose();
        }
    }

    /// <summary>
    /// Maps <paramref name="ram"/> as guest memory. The backing made for it is the controller's from the start, so the
    /// test holds only the bytes, which it reads and writes to check what DMA did.
    /// </summary>
    public static int MapRam(this DmaController dma, ulong iova, ulong size, DmaAccess access, byte[] ram) =>
        dma.MapOwned(iova, size, access, new ArrayDmaBacking(ram));

    /// <summary>
    /// <see cref="InterruptController.Assign"/> of one signal, to vector <paramref name="vector"/>: the controller owns
    /// <paramref name="signal"/> once it returns.
    /// </summary>
    public static void AssignOwned(this InterruptController interrupts, IrqIndex index, int vector, IInterruptSignal signal)
    {
        IInterruptSignal? pending = signal;
        try
        {
            interrupts.Assign(index, vector, [pending]);
            pending = null;
        }
        finally
        {
            pending?.Dispose();
        }
    }
}
