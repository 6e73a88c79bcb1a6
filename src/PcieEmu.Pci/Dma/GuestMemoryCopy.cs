using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace PcieEmu.Pci.Dma;

/// <summary>
/// Copies between guest memory and a device buffer, one run of contiguous mappings at a time. Through a vIOMMU those
/// runs are often single 4 KiB pages, and glibc's memmove (which .NET uses above 2 KiB) takes its rep-movsb path at
/// that size, whose start-up dominates a page: a four-vector loop copied 2–16 KiB in 0.4–0.7 of memmove's time on
/// these hosts (512-bit vectors; 256-bit ones 0.6–0.95). From <see cref="StringThreshold"/> on, rep movsb wins (it
/// streams from L2 where the loop waits on it: 32 KiB took the loop 1.7× memmove's time), so long runs — a physically
/// contiguous buffer coalesced by <see cref="TableWalk"/>, or all of RAM in one mapping — go to memmove again.
/// Short and overlapping ranges take <see cref="Span{T}.CopyTo"/> too; it is also the reference every path must
/// equal (GuestMemoryCopyTests).
/// </summary>
internal static unsafe class GuestMemoryCopy
{
    /// <summary>Below this, the runtime's copy is as fast: the loop's setup is not worth it.</summary>
    private const int VectorThreshold = 256;

    /// <summary>From this size on, memmove's rep movsb is faster than the loop (measured: 24 KiB loop, 32 KiB memmove).</summary>
    public const int StringThreshold = 32 * 1024;

    public static void Copy(byte* source, byte* destination, int count)
    {
        if (count < VectorThreshold || count >= StringThreshold || Overlap(source, destination, count))
        {
            new ReadOnlySpan<byte>(source, count).CopyTo(new Span<byte>(destination, count));
        }
        else if (Vector512.IsHardwareAccelerated)
        {
            CopyVector512(source, destination, count);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            CopyVector256(source, destination, count);
        }
        else
        {
            new ReadOnlySpan<byte>(source, count).CopyTo(new Span<byte>(destination, count));
        }
    }

    /// <summary>Four 64-byte loads, then four stores, per step; <paramref name="count"/> ≥ 256 and no overlap.</summary>
    internal static void CopyVector512(byte* source, byte* destination, int count)
    {
        const int step = 4 * 64;
        int at = 0;
        for (; at <= count - step; at += step)
        {
            Step512(source + at, destination + at);
        }

        if (at < count)
        {
            // The last partial step again as one full step ending at the end (count ≥ step, no overlap): no tail loop.
            Step512(source + count - step, destination + count - step);
        }
    }

    /// <summary>Four 32-byte loads, then four stores, per step; <paramref name="count"/> ≥ 128 and no overlap.</summary>
    internal static void CopyVector256(byte* source, byte* destination, int count)
    {
        const int step = 4 * 32;
        int at = 0;
        for (; at <= count - step; at += step)
        {
            Step256(source + at, destination + at);
        }

        if (at < count)
        {
            Step256(source + count - step, destination + count - step);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step512(byte* source, byte* destination)
    {
        var a = Vector512.Load(source);
        var b = Vector512.Load(source + 64);
        var c = Vector512.Load(source + 128);
        var d = Vector512.Load(source + 192);
        Vector512.Store(a, destination);
        Vector512.Store(b, destination + 64);
        Vector512.Store(c, destination + 128);
        Vector512.Store(d, destination + 192);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step256(byte* source, byte* destination)
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
