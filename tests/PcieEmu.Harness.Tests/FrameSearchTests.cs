using PcieEmu.Harness.Audio;

namespace PcieEmu.Harness.Tests;

public sealed class FrameSearchTests
{
    private static readonly byte[] Haystack = [9, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8];

    [Fact]
    public void Finds_a_sequence_only_at_frame_boundaries()
    {
        // [1,2,3,4] occurs at byte 1 (off the 4-byte grid) and at byte 5 (off as well): no frame-aligned match.
        FrameSearch.Find(Haystack, [1, 2, 3, 4], frameBytes: 4).Should().Be(-1);
        FrameSearch.Find(Haystack, [1, 2, 3, 4], frameBytes: 1).Should().Be(1);
        FrameSearch.Find(Haystack.AsSpan(1), [1, 2, 3, 4, 1, 2, 3, 4], frameBytes: 4).Should().Be(0);
        FrameSearch.Find(Haystack.AsSpan(1), [5, 6, 7, 8], frameBytes: 4).Should().Be(8, "a match that ends at the last byte counts");
    }

    [Fact]
    public void A_match_needs_every_byte_and_the_whole_needle_inside()
    {
        FrameSearch.Find(Haystack.AsSpan(1), [1, 2, 3, 4, 5, 6, 7, 9], frameBytes: 4).Should().Be(-1);
        FrameSearch.Find(Haystack.AsSpan(1), [5, 6, 7, 8, 1, 2, 3, 4], frameBytes: 4).Should().Be(-1);
        FrameSearch.Find([], [1], frameBytes: 1).Should().Be(-1);
        FrameSearch.Find(Haystack, [], frameBytes: 2).Should().Be(0);
    }

    [Fact]
    public void A_later_occurrence_is_found_when_an_earlier_candidate_fails()
    {
        byte[] hay = [1, 2, 0, 0, 1, 2, 3, 4];
        FrameSearch.Find(hay, [1, 2, 3, 4], frameBytes: 2).Should().Be(4);
    }

    [Fact]
    public void First_difference_is_the_common_prefix_length()
    {
        FrameSearch.FirstDifference([1, 2, 3], [1, 2, 4]).Should().Be(2);
        FrameSearch.FirstDifference([1, 2], [1, 2, 3]).Should().Be(2);
    }
}
