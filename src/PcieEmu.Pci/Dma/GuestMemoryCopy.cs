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
        if (count < VectorThreshold || count >= StringThreshold || !Vector256.IsHardwareAccelerated || Overlap(source, destination, count))
        {
            new ReadOnlySpan<byte>(source, count).CopyTo(new Span<byte>(destination, count));
        }
        else if (Vector512.IsHardwareAccelerated)
        {
            CopyVector512(source, destination, count);
        }
        else
        {
            CopyVector256(source, destination, count);
        }
    }

    /// <summary>Four 64-byte loads, then four stores, per step; <paramref name="count"/> ≥ 256 and no overlap.</summary>
    internal static void CopyVector512(byte* source, byte* destination, int count) => CopySteps<FourVector512>(source, destination, count);

    /// <summary>Four 32-byte loads, then four stores, per step; <paramref name="count"/> ≥ 128 and no overlap.</summary>
    internal static void CopyVector256(byte* source, byte* destination, int count) => CopySteps<FourVector256>(source, destination, count);

    /// <summary>The one copy loop, specialised per step width (a struct type argument: no call per step).</summary>
    private static void CopySteps<TStep>(byte* source, byte* destination, int count)
        where TStep : struct, ICopyStep
    {
        int at = 0;
        for (; at <= count - TStep.Bytes; at += TStep.Bytes)
        {
            TStep.Move(source + at, destination + at);
        }

        if (at < count)
        {
            // The last partial step again as one full step ending at the end (count ≥ step, no overlap): no tail loop.
            TStep.Move(source + count - TStep.Bytes, destination + count - TStep.Bytes);
        }
    }

    /// <summary>One step of the copy loop: all its loads before its stores.</summary>
    private interface ICopyStep
    {
        static abstract int Bytes { get; }

        static abstract void Move(byte* source, byte* destination);
    }

    private readonly struct FourVector512 : ICopyStep
    {
        public static int Bytes => 4 * 64;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Move(byte* source, byte* destination)
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
    }

    private readonly struct FourVector256 : ICopyStep
    {
        public static int Bytes => 4 * 32;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Move(byte* source, byte* destination)
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
    }

    private static bool Overlap(byte* a, byte* b, int count) => a < b + count && b < a + count;
}
