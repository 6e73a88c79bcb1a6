using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PcieEmu.Devices.Audio.Dsp;

/// <summary>
/// The AVX2 kernel. Eight samples per step, widened to two vectors of four doubles (cvtdq2pd / cvtps2pd are exact),
/// multiplied by the per-sample gain pattern (vmulpd: the same correctly rounded product as the scalar
/// <c>x * g</c>), then for integers clamped to the integral bounds and converted to int32 rounding to nearest-even
/// (cvtpd2dq; rounding after clamping equals clamping after rounding because the bounds are integers); for FLOAT_LE
/// narrowed by cvtpd2ps (the scalar cast's rounding) and ANDed with the mute mask (muted lanes become +0.0).
/// </summary>
internal sealed class Vector256GainKernel : IGainKernel
{
    private Vector256GainKernel()
    {
    }

    /// <inheritdoc/>
    public static void S16(Span<byte> data, int count, ReadOnlySpan<double> pattern)
    {
        ref short samples = ref Unsafe.As<byte, short>(ref MemoryMarshal.GetReference(data));
        ref double gains = ref MemoryMarshal.GetReference(pattern);
        Vector256<double> min = Vector256.Create((double)short.MinValue);
        Vector256<double> max = Vector256.Create((double)short.MaxValue);
        nuint period = (nuint)pattern.Length;
        nuint k = 0;
        for (nuint i = 0; i < (nuint)count; i += GainPattern.Step)
        {
            Vector256<int> x = Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref samples, i));
            Vector128<int> y0 = Scale4(x.GetLower(), Vector256.LoadUnsafe(ref gains, k), min, max);
            Vector128<int> y1 = Scale4(x.GetUpper(), Vector256.LoadUnsafe(ref gains, k + 4), min, max);
            Sse2.PackSignedSaturate(y0, y1).StoreUnsafe(ref samples, i); // in range already: packing is exact
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
        Vector256<double> min = Vector256.Create(lower);
        Vector256<double> max = Vector256.Create(upper);
        nuint period = (nuint)pattern.Length;
        nuint k = 0;
        for (nuint i = 0; i < (nuint)count; i += GainPattern.Step)
        {
            Vector256<int> x = Vector256.LoadUnsafe(ref samples, i);
            if (signExtend24)
            {
                x = Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(x, 8), 8);
            }

            Vector128<int> y0 = Scale4(x.GetLower(), Vector256.LoadUnsafe(ref gains, k), min, max);
            Vector128<int> y1 = Scale4(x.GetUpper(), Vector256.LoadUnsafe(ref gains, k + 4), min, max);
            Vector256.Create(y0, y1).StoreUnsafe(ref samples, i);
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
        for (nuint i = 0; i < (nuint)count; i += GainPattern.Step)
        {
            Vector256<float> x = Vector256.LoadUnsafe(ref samples, i);
            Vector256<double> d0 = Avx.Multiply(Avx.ConvertToVector256Double(x.GetLower()), Vector256.LoadUnsafe(ref gains, k));
            Vector256<double> d1 = Avx.Multiply(Avx.ConvertToVector256Double(x.GetUpper()), Vector256.LoadUnsafe(ref gains, k + 4));
            Vector256<float> y = Vector256.Create(Avx.ConvertToVector128Single(d0), Avx.ConvertToVector128Single(d1));
            Avx.And(y, Vector256.LoadUnsafe(ref keep, k)).StoreUnsafe(ref samples, i);
            k += GainPattern.Step;
            k = k == period ? 0 : k;
        }
    }

    /// <summary>Four integer samples through §12: widen, multiply, clamp, round half to even, back to int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Scale4(Vector128<int> x, Vector256<double> g, Vector256<double> min, Vector256<double> max)
    {
        Vector256<double> y = Avx.Multiply(Avx.ConvertToVector256Double(x), g);
        y = Avx.Min(Avx.Max(y, min), max);

        // cvtpd2dq rounds by MXCSR, which .NET keeps at round-to-nearest-even (the mode every scalar double operation
        // here, Math.Round's ties-to-even included, relies on too); one instruction instead of vroundpd + cvttpd2dq.
        return Avx.ConvertToVector128Int32(y);
    }
}
