using System.Reflection;
using BenchmarkDotNet.Attributes;
using PcieEmu.Pci.Dma;

namespace PcieEmu.Benchmarks.Tests;

/// <summary>
/// Runs every benchmark's code once, for every parameter combination, as BenchmarkDotNet would (global setup, the
/// method, global cleanup), so a benchmark that no longer runs fails here rather than in someone's measurement.
/// </summary>
public sealed class BenchmarkCodePathTests
{
    public static TheoryData<string> BenchmarkTypes() =>
        [.. typeof(Program).Assembly.GetTypes().Where(IsBenchmark).Select(t => t.Name).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(BenchmarkTypes))]
    public void Every_benchmark_runs_once_with_every_parameter_combination(string typeName)
    {
        var type = typeof(Program).Assembly.GetTypes().Single(t => t.Name == typeName);
        var benchmarks = type.GetMethods().Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null).ToList();
        int runs = 0;
        foreach (var parameters in Combinations(type))
        {
            object instance = Activator.CreateInstance(type)!;
            foreach (var (member, value) in parameters)
            {
                member.SetValue(instance, value);
            }

            Invoke<GlobalSetupAttribute>(type, instance);
            try
            {
                foreach (var benchmark in benchmarks)
                {
                    Invoke<IterationSetupAttribute>(type, instance);
                    benchmark.Invoke(instance, null);
                    Invoke<IterationCleanupAttribute>(type, instance);
                    runs++;
                }
            }
            finally
            {
                Invoke<GlobalCleanupAttribute>(type, instance);
            }
        }

        runs.Should().BeGreaterThan(0);
    }

    [Fact]
    public void The_page_table_maps_each_iova_page_to_its_scattered_file_page_and_reads_across_pages_are_exact()
    {
        using var memory = new DmaGuestMemory();
        memory.Many.Count.Should().Be(DmaGuestMemory.Pages);
        memory.One.Count.Should().Be(1);
        var through = new byte[3 * DmaGuestMemory.Page];
        const int firstPage = 4000;
        const int skew = 100;

        memory.Many.Read(DmaGuestMemory.PagesIova + (firstPage * DmaGuestMemory.Page) + skew, through).Should().Be(DmaResult.Ok);

        var expected = new byte[through.Length];
        for (int at = 0; at < expected.Length;)
        {
            int iovaOffset = (firstPage * DmaGuestMemory.Page) + skew + at;
            int inPage = iovaOffset % DmaGuestMemory.Page;
            int n = Math.Min(DmaGuestMemory.Page - inPage, expected.Length - at);
            Raw(memory, (DmaGuestMemory.Scatter(iovaOffset / DmaGuestMemory.Page) * DmaGuestMemory.Page) + inPage, n).CopyTo(expected.AsSpan(at));
            at += n;
        }

        through.Should().Equal(expected, "IOVA page i is file page Scatter(i)");
        DmaGuestMemory.Scatter(firstPage + 1).Should().NotBe(DmaGuestMemory.Scatter(firstPage) + 1, "IOVA neighbours are not file neighbours");
        var one = new byte[through.Length];
        memory.One.Read(DmaGuestMemory.OneIova + 12345, one).Should().Be(DmaResult.Ok);
        one.Should().Equal(Raw(memory, 12345, one.Length).ToArray(), "the single mapping is the file as it is");

        memory.InOrder.Count.Should().Be(DmaGuestMemory.Pages);
        var inOrder = new byte[through.Length];
        memory.InOrder.Read(DmaGuestMemory.InOrderIova + (firstPage * DmaGuestMemory.Page) + skew, inOrder).Should().Be(DmaResult.Ok);
        inOrder.Should().Equal(Raw(memory, (firstPage * DmaGuestMemory.Page) + skew, inOrder.Length).ToArray(), "IOVA page i of InOrder is file page i");
    }

    private static unsafe ReadOnlySpan<byte> Raw(DmaGuestMemory memory, int offset, int length) => new(memory.Contiguous + offset, length);

    private static bool IsBenchmark(Type t) =>
        t is { IsClass: true, IsAbstract: false, IsPublic: true } && t.GetMethods().Any(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null);

    private static void Invoke<TAttribute>(Type type, object instance)
        where TAttribute : Attribute
    {
        foreach (var m in type.GetMethods().Where(m => m.GetCustomAttribute<TAttribute>() is not null))
        {
            m.Invoke(instance, null);
        }
    }

    /// <summary>Every combination of the type's [Params] values (one empty combination when it has none).</summary>
    private static IEnumerable<List<(PropertyInfo Member, object? Value)>> Combinations(Type type)
    {
        IEnumerable<List<(PropertyInfo, object?)>> all = [[]];
        foreach (var p in type.GetProperties())
        {
            if (p.GetCustomAttribute<ParamsAttribute>() is { } values)
            {
                var property = p;
                all = all.SelectMany(c => values.Values.Select(v => new List<(PropertyInfo, object?)>(c) { (property, v) })).ToList();
            }
        }

        return all;
    }
}
