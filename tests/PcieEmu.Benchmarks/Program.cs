using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Running;

namespace PcieEmu.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project tests/PcieEmu.Benchmarks -- --filter '*Gain*'</c> (add <c>--job short</c> for a
/// quicker, noisier run). Any BenchmarkDotNet command-line option works.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        Console.WriteLine(
            $"SIMD: Vector256 {Vector256.IsHardwareAccelerated}, Vector128 {Vector128.IsHardwareAccelerated}, " +
            $"AVX2 {Avx2.IsSupported}, AVX {Avx.IsSupported}, SSE4.1 {Sse41.IsSupported}, AVX-512F {Avx512F.IsSupported}");
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
