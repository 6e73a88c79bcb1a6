using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PcieEmu.Devices.Audio.Dsp;

/// <summary>
/// The 128-bit kernel, for machines without AVX2 (and ARM64): the same arithmetic as the AVX2 kernel in vectors of
/// two doubles. On x86 the int32 ↔ double conversions use SSE2 (cvtdq2pd, cvttpd2dq); elsewhere the portable
/// Vector128 conversions through int64, which are exact for these values.
/// </summary>
internal sealed class Vector128GainKernel : IGainKernel
{
    private Vector128GainKernel()
    {
    }

    /// <inheritdoc/>
    public static void S16(Span<byte> data, int count, ReadOnlySpan<double> pattern)
    {
        ref short samples = ref Unsafe.As<byte, short>(ref MemoryMarshal.GetReference(data));
        ref double gains = ref MemoryMarshal.GetReference(pattern);
        Vector128<double> min = Vector128.Create((double)short.MinValue);
        Vector128<double> max = Vector128.Create((double)short.MaxValue);
        nuint period = (nuint)pattern.Length;
        nuint k = 0;
        for (nuint i = 0; i < (nuint)count; i += GainPattern.Step)
        {
            Vector128<short> x = Vector128.LoadUnsafe(ref samples, i);
            Vector128<int> y0 = Scale4(Vector128.WidenLower(x), ref Unsafe.Add(ref gains, k), min, max);
            Vector128<int> y1 = Scale4(Vector128.WidenUpper(x), ref Unsafe.Add(ref gains, k + 4), min, max);
            Vector128.Narrow(y0, y1).StoreUnsafe(ref samples, i); // in range already: narrowing is exact
            k += GainPattern.Step;
            k = k == period ? 0 : k;
        }
    }

    /// <inheritdoc/>
    public static void Int32(
        Span<byte> data, int count, ReadOnlySpan<double> pattern, double lower, double upper, bool signExtend24)
    {
        ref int samples = ref Unsafe.As<byte, int>(ref MemoryMarshal.GetReference(data));
        ref double gains = ref MemoryMarshal.GetReference(pattern);
        Vector128<double> min = Vector128.Create(lower);
        Vector128<double> max = Vector128.Create(upper);
        nuint period = (nuint)pattern.Length;
        nuint k = 0;
        for (nuint i = 0; i < (nuint)count; i += GainPattern.Step)
        {
            Vector128<int> x0 = Vector128.LoadUnsafe(ref samples, i);
            Vector128<int> x1 = Vector128.LoadUnsafe(ref samples, i + 4);
            if (signExtend24)
            {
                x0 = Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(x0, 8), 8);
                x1 = Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(x1, 8), 8);
            }

            Scale4(x0, ref Unsafe.Add(ref gains, k), min, max).StoreUnsafe(ref samples, i);
            Scale4(x1, ref Unsafe.Add(ref gains, k + 4), min, max).StoreUnsafe(ref samples, i + 4);
            k += GainPattern.Step;
            k = k == period ? 0 : k;
        }
    }

    /// <inheritdoc/>
    public static void Float(Span<byte> data, int count, ReadOnlySpan<double> pattern, ReadOnlySpan<uint> mask)
    {
        ref float samples = ref Unsafe.As<byte, float>(ref MemoryMarshal.GetReference(data));
        ref double gains = ref MemoryMarshal.GetReference(pattern);
        ref float keep = ref Unsafe.As<uint, float>(ref MemoryMarshal.GetReference(mask));
        nuint period = (nuint)pattern.Length;
        nuint k = 0;
        for (nuint i = 0; i < (nuint)count; i += 4)
        {
            Vector128<float> x = Vector128.LoadUnsafe(ref samples, i);
            Vector128<double> d0 = Vector128.WidenLower(x) * Vector128.LoadUnsafe(ref gains, k);
            Vector128<double> d1 = Vector128.WidenUpper(x) * Vector128.LoadUnsafe(ref gains, k + 2);
            (Vector128.Narrow(d0, d1) & Vector128.LoadUnsafe(ref keep, k)).StoreUnsafe(ref samples, i);
            k += 4;
            k = k == period ? 0 : k;
        }
    }

    /// <summary>Four integer samples through §12 with the four gains at <paramref name="g"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Scale4(Vector128<int> x, ref double g, Vector128<double> min, Vector128<double> max)
    {
        Vector128<double> d0;
        Vector128<double> d1;
        if (Sse2.IsSupported)
        {
            d0 = Sse2.ConvertToVector128Double(x);
            d1 = Sse2.ConvertToVector128Double(Sse2.UnpackHigh(x.AsInt64(), x.AsInt64()).AsInt32());
        }
        else
        {
            d0 = Vector128.ConvertToDouble(Vector128.WidenLower(x));
            d1 = Vector128.ConvertToDouble(Vector128.WidenUpper(x));
        }

        d0 = Vector128.MinNative(Vector128.MaxNative(d0 * Vector128.LoadUnsafe(ref g), min), max);
        d1 = Vector128.MinNative(Vector128.MaxNative(d1 * Vector128.LoadUnsafe(ref g, 2), min), max);
        if (Sse2.IsSupported)
        {
            // cvtpd2dq rounds to nearest-even (MXCSR, as in the AVX2 kernel); lanes 2 and 3 of each result are zero.
            Vector128<int> y0 = Sse2.ConvertToVector128Int32(d0);
            Vector128<int> y1 = Sse2.ConvertToVector128Int32(d1);
            return Sse2.UnpackLow(y0.AsInt64(), y1.AsInt64()).AsInt32();
        }

        // Vector128.Round rounds half to even; the int64 conversion of an in-range integral value is exact.
        return Vector128.Narrow(Vector128.ConvertToInt64(Vector128.Round(d0)), Vector128.ConvertToInt64(Vector128.Round(d1)));
    }
}
