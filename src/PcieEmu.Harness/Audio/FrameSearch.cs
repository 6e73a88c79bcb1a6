namespace PcieEmu.Harness.Audio;

/// <summary>Finding one sample sequence inside another, for loopback checks.</summary>
internal static class FrameSearch
{
    /// <summary>Byte index of the first occurrence of <paramref name="needle"/> in <paramref name="haystack"/> at a frame boundary, or -1.</summary>
    public static int Find(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle, int frameBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameBytes, 1);
        if (needle.IsEmpty)
        {
            return 0;
        }

        for (int at = 0; at + needle.Length <= haystack.Length; at += frameBytes)
        {
            // IndexOf on the first frame skips ahead fast; a hit off a frame boundary is stepped past.
            int hit = haystack[at..].IndexOf(needle[..frameBytes]);
            if (hit < 0)
            {
                return -1;
            }

            at += hit / frameBytes * frameBytes;
            if (hit % frameBytes == 0 && at + needle.Length <= haystack.Length && haystack.Slice(at, needle.Length).SequenceEqual(needle))
            {
                return at;
            }
        }

        return -1;
    }

    /// <summary>Index of the first byte where the two differ within the shorter length, or that length.</summary>
    public static int FirstDifference(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int n = Math.Min(a.Length, b.Length);
        int i = a[..n].CommonPrefixLength(b[..n]);
        return i;
    }
}
