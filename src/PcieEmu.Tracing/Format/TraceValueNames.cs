using System.Globalization;

namespace PcieEmu.Tracing.Format;

/// <summary>Enum member names for recorded numbers; a value no member has (a foreign or newer trace) stays a number.</summary>
internal static class TraceValueNames
{
    public static string Of<T>(ulong value)
        where T : struct, Enum =>
        Names<T>.ByValue.TryGetValue(value, out var name) ? name : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>"0x1004": addresses and offsets are 64-bit, beyond what a JSON number carries exactly in most readers.</summary>
    public static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>Built once per enum: the tools name a value per record.</summary>
    private static class Names<T>
        where T : struct, Enum
    {
        public static readonly Dictionary<ulong, string> ByValue = Enum.GetValues<T>()
            .DistinctBy(v => Convert.ToUInt64(v, CultureInfo.InvariantCulture))
            .ToDictionary(v => Convert.ToUInt64(v, CultureInfo.InvariantCulture), v => v.ToString());
    }
}
