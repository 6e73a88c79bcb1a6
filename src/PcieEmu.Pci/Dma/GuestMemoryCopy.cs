using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// Copies between guest memory and a device buffer, one mapping's part at a time. Through a vIOMMU those parts are
/// 4 KiB pages, and glibc's memmove (which .NET uses above 2 KiB) takes its rep-movsb path at that size: on these
/// hosts 16 separate 4 KiB copies took 1.7× as long as one 64 KiB copy of the same bytes. Four 32-byte vector
/// loads and stores per step bring them back to within 1.1× of it. Overlapping ranges (never guest memory and a
/// device buffer, but the copy does not assume it) and short copies take <see cref="Span{T}.CopyTo"/>, which is
/// also the reference the vector path must equal (GuestMemoryCopyTests).
/// </summary>
internal static unsafe class GuestMemoryCopy
{
    /// <summary>Below this, the runtime's copy is as fast: the loop's setup is not worth it.</summary>
    private const int VectorThreshold = 256;

    private const int Step = 4 * 32;

    public static void Copy(byte* source, byte* destination, int count)
    {
        if (count < VectorThreshold || !Vector256.IsHardwareAccelerated || Overlap(source, destination, count))
        {
            new ReadOnlySpan<byte>(source, count).CopyTo(new Span<byte>(destination, count));
            return;
        }

        int at = 0;
        for (; at <= count - Step; at += Step)
        {
            CopyStep(source + at, destination + at);
        }

        if (at < count)
        {
            // The last partial step again as one full step ending at the end (count ≥ Step, no overlap): no tail loop.
            CopyStep(source + count - Step, destination + count - Step);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyStep(byte* source, byte* destination)
    {
        var a = Vector256.Load(source);
        var b = Vector256.Load(source + 32);
        var c = Vector256.Load(source + 64);
        var d = Vector256.Load(source + 96);
        Vector256.Store(a, destination);
        Vector256.Store(b, destination + 32);
        Vector256.Store(c, destination + 64);
        Vector256.Store(d, destination + 96);
    }

    private static bool Overlap(byte* a, byte* b, int count) => a < b + count && b < a + count;
}
